"""The whole export, shared by `fakeimg export` and the `dataset_export` asset.

Rows of the latest split (`rows.py`) -> shards with the checked image bytes (`shards.py`)
-> the card (`card.py`) and a manifest -> SHA256SUMS (`checksums.py`), all in a temp
folder beside DIR, renamed into place at the end (`folder.py`).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import polars as pl

from fakeimg_assets.export.card import CardFacts, render_card
from fakeimg_assets.export.checksums import SUMS_NAME, write_sums
from fakeimg_assets.export.folder import FORMAT, MANIFEST_NAME, check_target, publish, temp_beside
from fakeimg_assets.export.rows import export_rows
from fakeimg_assets.export.shards import Problem, ShardDone, write_shards
from fakeimg_assets.warehouse.store import Warehouse

DEFAULT_MAX_ROWS = 10_000
DEFAULT_MAX_BYTES = 500 * 10**6  # the Hub's recommended Parquet shard size is under ~500 MB
SPLIT_SIDES = ("train", "test")
MANIFEST_KEYS = {"exported at": "exported_at", "platform": "platform", "split": "split_id",
                 "split settings": "split_settings",
                 "sampling settings (steps, guidance: images)": "sampling_settings",
                 "restricted generators": "restricted_generators"}


@dataclass(frozen=True)
class ExportOptions:
    include_restricted: bool = False
    max_rows: int = DEFAULT_MAX_ROWS  # per shard
    max_bytes: int = DEFAULT_MAX_BYTES  # image bytes per shard

    def __post_init__(self) -> None:
        for name in ("max_rows", "max_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass
class ExportReport:
    folder: Path
    split_id: str
    rows: dict[str, int]  # written per split
    files: dict[str, list[str]]
    quarantined: dict[str, str]
    restricted: dict[str, str]
    problems: list[Problem]
    n_files: int = 0
    n_bytes: int = 0
    seconds: float = 0.0
    shards: list[ShardDone] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [f"exported split {self.split_id} to {self.folder}: "
               + ", ".join(f"{s} {n} images" for s, n in self.rows.items())
               + f"; {self.n_files} files, {self.n_bytes / 1e6:.1f} MB in {self.seconds:.1f} s"]
        out += [f"left out (quarantined) {m}: {why}" for m, why in self.quarantined.items()]
        out += [f"restricted {m}: {why}" for m, why in self.restricted.items()]
        out += [f"FAILED image {p.line()}" for p in self.problems]
        return out


def code_commit() -> str | None:
    """The git commit of the code that made the export, when it runs from a checkout."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def _version() -> str:
    try:
        return metadata.version("fakeimg")
    except metadata.PackageNotFoundError:
        return "unknown"


def export_dataset(
    home: Path, out: Path, options: ExportOptions = ExportOptions(), *,
    log: Callable[[str], None] = lambda _m: None,
    on_start: Callable[[int], None] = lambda _n: None,
    on_row: Callable[[], None] = lambda: None,
) -> ExportReport:
    """Export the latest split of the warehouse at `home` into `out` (see module doc).

    `log` gets one line per shard (rate, ETA) and per problem; `on_start(total rows)` and
    `on_row()` drive a progress bar. Raises ValueError/LookupError before writing anything
    when `out` may not be replaced or there is no split."""
    out = Path(out).expanduser().absolute()
    home = Path(home)
    check_target(out)
    t0 = time.perf_counter()
    store = Warehouse(home)
    picked = export_rows(store, include_restricted=options.include_restricted)
    sides = [s for s in SPLIT_SIDES if s in picked.split_counts] + sorted(
        s for s in picked.split_counts if s not in SPLIT_SIDES)
    on_start(picked.rows.height)
    tmp = temp_beside(out)
    report = ExportReport(out, picked.split_id, {}, {}, picked.quarantined, picked.restricted, [])
    try:
        def shard_done(s: ShardDone) -> None:
            report.shards.append(s)
            log(s.line())

        files, written, problems = write_shards(
            picked.rows, home, tmp / "data", splits=sides, max_rows=options.max_rows,
            max_bytes=options.max_bytes, on_row=on_row, on_shard=shard_done)
        for p in problems:
            log(f"left out image {p.line()}")
        bad = {p.image_id for p in problems}
        rows = picked.rows.filter(~pl.col("image_id").is_in(sorted(bad))).drop("path")
        settings = store.query("SELECT * FROM split_versions WHERE split_id = ? "
                               "ORDER BY created_at DESC LIMIT 1", params=[picked.split_id])
        made = {
            "exported at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "platform": f"fakeimg {_version()}, code commit {code_commit() or 'unknown'}",
            "split": picked.split_id,
        }
        if settings.height:
            s = settings.row(0, named=True)
            made["split settings"] = (f"test_fraction {s['test_fraction']}, seed {s['seed']}, "
                                      f"cut {s['created_at']}")
        sampling = (rows.filter(pl.col("label") == 1).group_by("steps", "guidance_scale")
                    .len().sort("steps", "guidance_scale", nulls_last=True))
        made["sampling settings (steps, guidance: images)"] = "; ".join(
            f"{r['steps']}, {r['guidance_scale']}: {r['len']}" for r in sampling.iter_rows(named=True))
        made["restricted generators"] = "included" if options.include_restricted else "left out"
        facts = CardFacts(picked.split_id, files, rows, picked.licences, picked.quarantined,
                          picked.restricted, options.include_restricted,
                          [p.line() for p in problems], made)
        (tmp / "README.md").write_text(render_card(facts), encoding="utf-8")
        manifest = {"format": FORMAT, "split_id": picked.split_id, "rows": written,
                    "files": files, "include_restricted": options.include_restricted,
                    "quarantined": picked.quarantined, "restricted": picked.restricted,
                    "problems": [p.line() for p in problems],
                    "made": {MANIFEST_KEYS.get(k, k): v for k, v in made.items()}}
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, default=str) + "\n",
                                         encoding="utf-8")
        write_sums(tmp)
        all_files = [p for p in tmp.rglob("*") if p.is_file()]
        report.n_files = len(all_files)
        report.n_bytes = sum(p.stat().st_size for p in all_files)
        report.rows, report.files, report.problems = written, files, problems
        publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report.seconds = time.perf_counter() - t0
    log(f"export done: {report.n_files} files ({SUMS_NAME} included), "
        f"{report.n_bytes / 1e6:.1f} MB in {report.seconds:.1f} s")
    return report
