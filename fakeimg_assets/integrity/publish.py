"""Publishing one partition's images so that a `kill -9` at any instant is harmless.

Layout: `images/<kind>/<name>/<version>/<file>`, with `<version>` a name that never existed
before. The order of a write is what makes it crash-consistent:

1. take the partition's lock; remove leftovers of earlier killed attempts (staging
   folders, versions no row points at, temp Parquet files of this key);
2. write every file into `images/<kind>/<name>/.staging-PID-HEX/`;
3. rename the staging folder to `<version>` (one atomic rename);
4. write the partition's rows (`fake_images` or `real_images`) (temp then rename: the completion marker), whose
   paths point into `<version>`;
5. remove every file of the partition that no row points at (the previous version).

A kill before 4 leaves the old rows pointing at the old, untouched version; a kill after
4 leaves only unreferenced files, which the next write (or `fakeimg verify --repair`)
removes. Rows never point at a missing file.

When the partition's rows file is damaged, or was quarantined and not written since
(`integrity.quarantine.unproven_rows`), step 1 keeps every published version: nobody can
tell which files those rows listed, and a failed re-run must not lose them. Only a
successful commit (step 5, against the new rows) supersedes them.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path
from typing import Protocol

import polars as pl

from fakeimg_assets.integrity import locks
from fakeimg_assets.integrity.quarantine import unproven_rows
from fakeimg_assets.lib.leftovers import (
    is_temporary_name,
    remove_path,
    remove_stale_temp_files,
    writer_id,
)
from fakeimg_assets.lib.paths import atomic_write_bytes

KINDS = ("fake", "real")
# the storage table each kind's rows go to (one owning asset each; `images` is their union)
IMAGE_TABLES = {"fake": "fake_images", "real": "real_images"}


class RowStore(Protocol):
    """What the writer needs of the warehouse (the store or the Dagster resource)."""

    def write(self, relation: str, key: str, rows: list[dict]) -> object: ...

    def read_key(self, relation: str, key: str) -> pl.DataFrame: ...


def partition_key(kind: str, name: str) -> str:
    """The Parquet key of a partition: `fake--org--name`, `real--skimage`."""
    return f"{kind}--{name}"


def image_table(kind: str) -> str:
    """The storage table of a kind's rows: `fake_images` or `real_images`."""
    if kind not in IMAGE_TABLES:
        raise ValueError(f"invalid image kind {kind!r}: expected one of {KINDS}")
    return IMAGE_TABLES[kind]


def partition_folder(home: Path, kind: str, name: str) -> Path:
    """`images/<kind>/<name>`, refusing names that could leave that folder."""
    if kind not in KINDS:
        raise ValueError(f"invalid image kind {kind!r}: expected one of {KINDS}")
    if not name or "/" in name or "\\" in name or name.startswith(".") or ".." in name:
        raise ValueError(f"invalid image partition name {name!r}")
    return Path(home) / "images" / kind / name


def new_version() -> str:
    """A folder name no earlier write used: UTC time plus random bits."""
    return f"v{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"


def prune_unreferenced(folder: Path, home: Path, referenced: set[str]) -> list[Path]:
    """Remove every file or folder under `folder` that no referenced path lies in."""
    if not folder.is_dir():
        return []
    keep_dirs = {str(Path(p).parent) for p in referenced}
    keep_dirs |= {str(parent) for p in referenced for parent in Path(p).parents}
    removed: list[Path] = []
    for entry in folder.iterdir():
        rel = entry.relative_to(home).as_posix()
        if entry.is_dir() and not entry.is_symlink() and not is_temporary_name(entry.name):
            if rel in keep_dirs:
                removed += prune_unreferenced(entry, home, referenced)
                continue
        elif rel in referenced:
            continue
        remove_path(entry)
        removed.append(entry)
    return removed


def clean_partition(home: Path, kind: str, name: str, rows: RowStore) -> list[Path]:
    """Leftovers of this partition: staging, unreferenced versions, old swap folders.

    Call with the partition lock held (`PartitionWriter` does): every staging folder then
    belongs to a dead attempt, whatever its pid.
    """
    folder = partition_folder(home, kind, name)
    if unproven_rows(home, image_table(kind), partition_key(kind, name)) is not None:
        removed = _remove_staging(folder)  # keep every version: the rows cannot be read
    else:
        current = rows.read_key(image_table(kind), partition_key(kind, name))
        referenced = set(current["path"].to_list()) if current.height else set()
        removed = prune_unreferenced(folder, Path(home), referenced)
    parent = folder.parent
    if parent.is_dir():  # the pre-versioning code's `.NAME.staging-*` / `.NAME.old-*` siblings
        for entry in parent.iterdir():
            if entry.name.startswith(f".{name}.") and is_temporary_name(entry.name):
                remove_path(entry)
                removed.append(entry)
    parquet_dir = Path(home) / "parquet" / image_table(kind)
    removed += remove_stale_temp_files(parquet_dir, f".{partition_key(kind, name)}.", locked=True)
    return removed


def _remove_staging(folder: Path) -> list[Path]:
    """Staging folders of earlier attempts (never published: the lock is held)."""
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        if is_temporary_name(entry.name):
            remove_path(entry)
            removed.append(entry)
    return removed


class PartitionWriter:
    """Write one partition's image files and rows crash-consistently (see module doc).

    with PartitionWriter(home, "fake", slug, warehouse) as w:
        rel = w.add("00000.png", png)   # path to store in the row
        w.commit(rows)                  # rename, rows, prune
    """

    def __init__(self, home: Path, kind: str, name: str, rows: RowStore) -> None:
        self.home = Path(home)
        self.kind, self.name = kind, name
        self.folder = partition_folder(self.home, kind, name)
        self.rows = rows
        self.key = partition_key(kind, name)
        self.table = image_table(kind)
        self.version = new_version()
        self.final = self.folder / self.version
        self.staging = self.folder / f".staging-{writer_id()}-{uuid.uuid4().hex[:8]}"
        self.removed: list[Path] = []
        self._lock_fd: int | None = None
        self._committed = False

    def __enter__(self) -> PartitionWriter:
        self._lock_fd = locks.acquire(self.home, self.key)  # the kernel frees it on a kill
        self.removed += clean_partition(self.home, self.kind, self.name, self.rows)
        self.staging.mkdir(parents=True)
        return self

    def path_of(self, filename: str) -> str:
        """The path (relative to the home) a row must store for this file once published."""
        if not filename or "/" in filename or "\\" in filename or filename.startswith("."):
            raise ValueError(f"invalid image file name {filename!r}")
        return (self.final / filename).relative_to(self.home).as_posix()

    def add(self, filename: str, data: bytes) -> str:
        """Stage one file; returns its path relative to the home as rows must store it."""
        rel = self.path_of(filename)
        atomic_write_bytes(self.staging / filename, data)
        return rel

    def publish(self, files: dict[str, bytes], rows: list[dict]) -> None:
        """The whole write in one call: lock and clean, stage `files`, commit `rows`."""
        with self:
            for filename, data in files.items():
                self.add(filename, data)
            self.commit(rows)

    def commit(self, rows: list[dict]) -> None:
        """Publish: staging -> version, then the rows, then drop what no row points at."""
        expected = {(self.final / p.name).relative_to(self.home).as_posix()
                    for p in self.staging.iterdir()}
        paths = {r["path"] for r in rows}
        if paths != expected:
            raise ValueError(
                f"rows of {self.key} do not match its staged files: "
                f"{len(paths - expected)} rows without a file, "
                f"{len(expected - paths)} files without a row"
            )
        _fsync_dir(self.staging)
        os.replace(self.staging, self.final)
        _fsync_dir(self.folder)
        self.rows.write(self.table, self.key, rows)
        self._committed = True
        current = self.rows.read_key(self.table, self.key)
        self.removed += prune_unreferenced(self.folder, self.home, set(current["path"].to_list()))

    def __exit__(self, *exc: object) -> None:
        try:
            if not self._committed:
                remove_path(self.staging)
        finally:
            if self._lock_fd is not None:
                locks.release(self._lock_fd)
                self._lock_fd = None


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (a power cut, not just a kill)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
