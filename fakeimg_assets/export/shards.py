"""Parquet shards with the image bytes: `data/{split}-{i:05d}-of-{n:05d}.parquet`.

Each image file is read from the image store and its sha256 checked against its row while
reading; a row whose file is missing, unreadable, outside `$FAKEIMG_HOME/images`, or whose
bytes do not match is left out and reported (one `Problem` per file), never silently. A
shard closes once it holds `max_rows` rows or `max_bytes` image bytes, so shards stay
bounded; names get their `-of-N` once a split's count is known. Every side of the split
gets at least one file (possibly empty), so the card's `data_files` always match.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from fakeimg_assets.export.columns import COLUMNS, IMAGE_COLUMN, arrow_schema

MAX_IMAGE_BYTES = 256 * 2**20  # one image file larger than this is refused, not read
BATCH_ROWS = 64  # rows per Parquet row group written


@dataclass(frozen=True)
class Problem:
    """A row left out because its file could not be exported."""

    image_id: str
    path: str
    reason: str

    def line(self) -> str:
        return f"{self.image_id} ({self.path}): {self.reason}"


@dataclass(frozen=True)
class ShardDone:
    """Progress after one shard: for the run log (rate and ETA) and the report."""

    name: str
    rows: int
    bytes: int
    rows_done: int
    rows_total: int
    seconds: float  # since the export's shards began

    @property
    def rate(self) -> float:
        return self.rows_done / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_s(self) -> float:
        return (self.rows_total - self.rows_done) / self.rate if self.rate > 0 else 0.0

    def line(self) -> str:
        return (f"shard {self.name}: {self.rows} rows, {self.bytes / 1e6:.1f} MB; "
                f"{self.rows_done}/{self.rows_total} rows, {self.rate:.0f} rows/s, "
                f"ETA {self.eta_s:.0f} s")


def read_image(home: Path, rel: str, sha256: str | None) -> bytes:
    """An image file's bytes, refusing a path outside `home/images` and a sha256 mismatch
    (ValueError or OSError naming what is wrong)."""
    if not rel:
        raise ValueError("no path in its row")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or "\\" in rel or "\0" in rel:
        raise ValueError("path is not a plain relative path under the home")
    root = (home / "images").resolve()
    path = (home / rel).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"path leaves {root}")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > MAX_IMAGE_BYTES:
            raise ValueError(f"{size} bytes, over the {MAX_IMAGE_BYTES}-byte limit")
        data = fh.read()
    digest = hashlib.sha256(data).hexdigest()
    if not sha256:
        raise ValueError("no sha256 in its row to check the bytes against")
    if digest != sha256:
        raise ValueError(f"sha256 {digest[:12]}… does not match the row's {sha256[:12]}…")
    return data


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


class SplitShards:
    """The shards of one split being written: temp names, closed at the bounds."""

    def __init__(self, split: str, data_dir: Path, max_rows: int, max_bytes: int,
                 on_close: Callable[[str, int, int], None]) -> None:
        self.split, self.data_dir = split, data_dir
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self.on_close = on_close
        self.schema = arrow_schema()
        self.done: list[tuple[Path, int]] = []  # (temp path, rows)
        self.writer: pq.ParquetWriter | None = None
        self.where = data_dir
        self.rows = self.bytes = 0
        self.batch: list[dict] = []

    def add(self, row: dict) -> None:
        if self.writer is None:
            self.where = self.data_dir / f".{self.split}-{len(self.done):05d}.parquet.tmp"
            self.writer = pq.ParquetWriter(self.where, self.schema, compression="zstd")
        self.batch.append(row)
        self.rows += 1
        self.bytes += len(row[IMAGE_COLUMN])
        if len(self.batch) >= BATCH_ROWS:
            self._flush()
        if self.rows >= self.max_rows or self.bytes >= self.max_bytes:
            self.close()

    def _flush(self) -> None:
        if self.batch and self.writer is not None:
            self.writer.write_table(pa.Table.from_pylist(self.batch, schema=self.schema))
            self.batch.clear()

    def close(self) -> None:
        if self.writer is None:
            return
        self._flush()
        self.writer.close()
        self.done.append((self.where, self.rows))
        self.on_close(f"{self.split}-{len(self.done) - 1:05d}", self.rows, self.bytes)
        self.writer, self.rows, self.bytes = None, 0, 0

    def finish(self) -> tuple[list[str], int]:
        """Close the last shard, give each its final name; (paths from the export root,
        rows written). An empty split still gets one empty file."""
        self.close()
        if not self.done:
            where = self.data_dir / f".{self.split}-00000.parquet.tmp"
            pq.write_table(self.schema.empty_table(), where)
            self.done.append((where, 0))
        names = []
        for i, (path, _) in enumerate(self.done):
            final = self.data_dir / shard_name(self.split, i, len(self.done))
            os.replace(path, final)
            names.append(f"{self.data_dir.name}/{final.name}")
        return names, sum(n for _, n in self.done)


def write_shards(
    rows: pl.DataFrame, home: Path, data_dir: Path, *, splits: Iterable[str],
    max_rows: int, max_bytes: int,
    on_row: Callable[[], None] = lambda: None,
    on_shard: Callable[[ShardDone], None] = lambda _s: None,
) -> tuple[dict[str, list[str]], dict[str, int], list[Problem]]:
    """Write every split's shards into `data_dir`; returns (files per split relative to
    the export folder, rows written per split, problems)."""
    if max_rows < 1 or max_bytes < 1:
        raise ValueError(f"max_rows and max_bytes must be >= 1, got {max_rows}, {max_bytes}")
    data_dir.mkdir(parents=True, exist_ok=True)
    names = list(COLUMNS)
    files: dict[str, list[str]] = {}
    written: dict[str, int] = {}
    problems: list[Problem] = []
    start = time.perf_counter()
    done = 0

    def closed(name: str, n: int, size: int) -> None:
        on_shard(ShardDone(name, n, size, done, rows.height, time.perf_counter() - start))

    for split in splits:
        shards = SplitShards(split, data_dir, max_rows, max_bytes, closed)
        for row in rows.filter(pl.col("split") == split).iter_rows(named=True):
            done += 1
            on_row()
            try:
                data = read_image(home, row["path"], row["sha256"])
            except (OSError, ValueError) as exc:
                problems.append(Problem(row["image_id"], str(row["path"]), str(exc)))
                continue
            shards.add({n: data if n == IMAGE_COLUMN else row[n] for n in names})
        files[split], written[split] = shards.finish()
    return files, written, problems
