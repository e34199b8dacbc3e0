"""`fakeimg verify`: every image row has its file with its sha256, every file has its row,
and nothing half-written is left behind.

Reads the image rows (`fake_images`, `real_images`) straight from Parquet (no DuckDB, no lock), so it works while a
run or a DuckDB CLI session holds the database. `repair=True` removes leftovers and
orphan files (files no row points at), never a file a row points at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import polars as pl

from fakeimg_assets.integrity.leftovers import (
    is_leftover,
    is_temporary_name,
    remove_path,
)
from fakeimg_assets.integrity.publish import (
    IMAGE_TABLES,
    KINDS,
    image_table,
    partition_folder,
    partition_key,
)
from fakeimg_assets.paths import fakeimg_home, sha256_file

PROBLEM_KINDS = ("bad_path", "missing_file", "sha256_mismatch", "orphan", "leftover", "bad_rows")


@dataclass(frozen=True)
class Problem:
    """One inconsistency: `kind` (see PROBLEM_KINDS), the path relative to the home, why."""

    kind: str
    path: str
    detail: str

    def line(self) -> str:
        return f"{self.kind}: {self.path}: {self.detail}"


@dataclass
class VerifyReport:
    """What `verify` found (and, with repair, removed) in one home."""

    home: Path
    n_rows: int = 0
    n_files_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [p.line() for p in self.problems]
        out += [f"removed: {r}" for r in self.repaired]
        state = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        out.append(f"verify {self.home}: {self.n_rows} image rows, "
                   f"{self.n_files_checked} files checked: {state}")
        return out


LEGACY_IMAGES = "images"  # the pre-split layout's shared folder (warehouse/migrate.py)


def _image_files(home: Path, kind: str | None, key: str | None) -> list[Path]:
    """The Parquet files holding image rows: each kind's storage table, plus a not yet
    migrated old `parquet/images` folder (read only; the table's file wins a name clash)."""
    root = home / "parquet"
    tables = [image_table(kind)] if kind is not None else list(IMAGE_TABLES.values())
    by_name: dict[str, Path] = {}
    for folder in [root / t for t in tables] + [root / LEGACY_IMAGES]:
        if not folder.is_dir():
            continue
        found = [folder / f"{key}.parquet"] if key is not None else sorted(folder.glob("*.parquet"))
        for f in found:
            if f.exists() and not f.name.startswith(("_", ".")):
                by_name.setdefault(f.name, f)
    return [by_name[n] for n in sorted(by_name)]


def _rows(home: Path, kind: str | None, key: str | None, report: VerifyReport) -> list[dict]:
    rows: list[dict] = []
    for f in _image_files(home, kind, key):
        try:
            frame = pl.read_parquet(f, columns=["image_id", "path", "sha256"])
        except Exception as exc:  # noqa: BLE001 - a damaged file is a finding, not a crash
            report.problems.append(Problem("bad_rows", _rel(f, home), f"unreadable: {exc}"))
            continue
        rows += frame.to_dicts()
    return rows


def _rel(path: Path, home: Path) -> str:
    return path.relative_to(home).as_posix()


def _check_rows(home: Path, rows: list[dict], hashes: bool, report: VerifyReport) -> set[str]:
    referenced: set[str] = set()
    for row in rows:
        rel = row["path"] or ""
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts or not rel.startswith("images/"):
            report.problems.append(Problem(
                "bad_path", rel, f"row {row['image_id']} points outside $FAKEIMG_HOME/images"))
            continue
        referenced.add(rel)
        path = home / rel
        if not path.is_file():
            report.problems.append(Problem(
                "missing_file", rel, f"row {row['image_id']} points at a file that does not exist"))
            continue
        report.n_files_checked += 1
        if hashes and sha256_file(path) != row["sha256"]:
            report.problems.append(Problem(
                "sha256_mismatch", rel,
                f"row {row['image_id']} records sha256 {str(row['sha256'])[:16]}…, "
                "the file differs"))
    return referenced


def _walk(folder: Path, home: Path, referenced: set[str], keep_dirs: set[str],
          report: VerifyReport, repair: bool) -> None:
    for entry in sorted(folder.iterdir()):
        rel = _rel(entry, home)
        if is_temporary_name(entry.name):
            if is_leftover(entry):
                _found(report, Problem("leftover", rel, "half-written by a killed or failed write"),
                       entry, repair)
            continue  # a live writer's work in progress
        if entry.is_dir() and not entry.is_symlink():
            if rel in keep_dirs:
                _walk(entry, home, referenced, keep_dirs, report, repair)
            else:
                n = sum(1 for p in entry.rglob("*") if p.is_file())
                _found(report, Problem("orphan", rel + "/", f"folder of {n} files no row points into"),
                       entry, repair)
        elif rel not in referenced:
            _found(report, Problem("orphan", rel, "file no row points at"), entry, repair)


def _found(report: VerifyReport, problem: Problem, path: Path, repair: bool) -> None:
    if repair:
        remove_path(path)
        report.repaired.append(problem.path)
    else:
        report.problems.append(problem)


def _parquet_leftovers(home: Path, kind: str | None, key: str | None, report: VerifyReport,
                       repair: bool) -> None:
    root = home / "parquet"
    if not root.is_dir():
        return
    if key is not None and kind is not None:
        folders = [root / image_table(kind), root / LEGACY_IMAGES]
    else:
        folders = [root, *sorted(root.iterdir())]
    for folder in folders:
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if key is not None and not entry.name.startswith(f".{key}."):
                continue
            if is_temporary_name(entry.name) and is_leftover(entry):
                _found(report, Problem("leftover", _rel(entry, home), "temp Parquet of a killed write"),
                       entry, repair)
    if key is None:
        for entry in sorted(home.iterdir()):
            if is_temporary_name(entry.name) and is_leftover(entry):
                _found(report, Problem("leftover", _rel(entry, home), "temp file of a killed write"),
                       entry, repair)


def verify(home: Path | str | None = None, *, kind: str | None = None, name: str | None = None,
           repair: bool = False, hashes: bool = True) -> VerifyReport:
    """Check the whole home, or one partition (`kind` "fake"/"real" and its `name`).

    Problems: `bad_path`, `missing_file`, `sha256_mismatch` (a row without its file),
    `orphan` (a file without its row), `leftover` (temp files and staging folders of
    dead writers), `bad_rows` (an unreadable Parquet file). With `repair`, orphans and
    leftovers are removed (and listed in `repaired`); row problems are only reported.
    """
    home = fakeimg_home(home)
    report = VerifyReport(home=home)
    if (kind is None) != (name is None):
        raise ValueError("verify one partition with both kind and name, or the whole home")
    key = partition_key(kind, name) if kind is not None and name is not None else None
    rows = _rows(home, kind, key, report)
    report.n_rows = len(rows)
    referenced = _check_rows(home, rows, hashes, report)
    keep_dirs = {str(parent) for p in referenced for parent in PurePosixPath(p).parents}
    if key is not None:
        folders = [partition_folder(home, kind, name)]  # type: ignore[arg-type]
        parent = folders[0].parent
        if parent.is_dir():  # the pre-versioning code's `.NAME.staging-*` siblings
            for entry in sorted(parent.iterdir()):
                if entry.name.startswith(f".{name}.") and is_temporary_name(entry.name):
                    if is_leftover(entry):
                        _found(report, Problem("leftover", _rel(entry, home), "old staging"),
                               entry, repair)
    else:
        folders = [home / "images"]
    for folder in folders:
        if folder.is_dir():
            if key is None:
                keep_dirs |= {"images", *(f"images/{k}" for k in KINDS)}
            _walk(folder, home, referenced, keep_dirs, report, repair)
    _parquet_leftovers(home, kind, key, report, repair)
    return report
