"""`fakeimg verify`: every Parquet file of every relation reads, every image row has its
file with its sha256, every file has its row, and nothing half-written is left behind.

Reads the Parquet files straight (no DuckDB, no lock), so it works while a run or a
DuckDB CLI session holds the database. `repair=True` removes leftovers and orphan files
(files no row points at), never a file a row points at, and never a file it cannot prove
is garbage: a damaged Parquet file is moved to quarantine (`integrity.quarantine`) and its
partition marked for re-run (`integrity.rerun`); while an image partition's rows are
damaged or quarantined and not re-written, the files they may list are kept and reported
as `unverifiable`.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from fakeimg_assets.integrity import locks
from fakeimg_assets.integrity.parquet_health import FIX_COMMAND, full_read_damage
from fakeimg_assets.integrity.publish import (
    IMAGE_TABLES,
    KINDS,
    image_table,
    partition_folder,
    partition_key,
)
from fakeimg_assets.integrity.quarantine import (
    quarantine_file,
    quarantined_keys,
    unproven_rows,
)
from fakeimg_assets.integrity.rerun import failure_key, failure_row, rerun_for
from fakeimg_assets.lib.leftovers import (
    is_leftover,
    is_temporary_name,
    other_machine,
    remove_path,
)
from fakeimg_assets.lib.paths import fakeimg_home, sha256_file
from fakeimg_assets.warehouse.compaction import (
    compact_relation,
    put_back_set_aside,
    set_aside_files,
)
from fakeimg_assets.warehouse.sources import COMPACTED_DIR, PARTITION_COLUMN, compacted_path
from fakeimg_assets.warehouse.store import Warehouse

# how long `verify --repair` waits for a running compaction before it drops the compacted
# rows of keys it quarantined (one of 3 M rows takes about 8 s on 2 cores)
COMPACTION_WAIT_S = 120.0
PROBLEM_KINDS = ("bad_path", "missing_file", "sha256_mismatch", "orphan", "leftover",
                 "bad_rows", "unverifiable")
ROW_COLUMNS = ["image_id", "path", "sha256"]
LEGACY_IMAGES = "images"  # the pre-split layout's shared folder (warehouse/migrate.py)
IMAGE_ROW_FOLDERS = (*IMAGE_TABLES.values(), LEGACY_IMAGES)  # folders whose rows list files


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
    """What `verify` found (and, with repair, removed or quarantined) in one home."""

    home: Path
    n_rows: int = 0
    n_files_checked: int = 0
    n_parquet_files: int = 0
    problems: list[Problem] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)  # removed (relative paths)
    quarantined: list[str] = field(default_factory=list)  # 'parquet/... -> quarantine/...'
    notes: list[str] = field(default_factory=list)  # what to run next
    moved: set[tuple[str, str]] = field(default_factory=set, repr=False)  # (folder, key)
    damaged: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)  # -> why
    elsewhere: dict[str, int] = field(default_factory=dict)  # machine -> its temp files kept

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [p.line() for p in self.problems]
        out += [f"removed: {r}" for r in self.repaired]
        out += [f"quarantined: {q}" for q in self.quarantined]
        out += [f"note: {n}" for n in self.notes]
        state = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        out.append(f"verify {self.home}: {self.n_parquet_files} Parquet files read, "
                   f"{self.n_rows} image rows, {self.n_files_checked} files checked: {state}")
        return out


def _rel(path: Path, home: Path) -> str:
    return path.relative_to(home).as_posix()


def _table_folders(home: Path) -> list[Path]:
    """The storage tables' folders in `parquet/`, sorted (no hidden, `_` or linked one)."""
    root = home / "parquet"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()
                  and not p.name.startswith((".", "_")))


def _damaged_compacted(home: Path, path: Path, damage: str, lost: str) -> Problem:
    """A damaged compacted file, reported and never moved: its rows exist nowhere else."""
    return Problem("bad_rows", _rel(path, home), f"unreadable compacted Parquet ({damage}): "
                   f"every reader skips {lost}; restore it from a backup, or re-run the "
                   "partitions")


def _parquet_files(home: Path, kind: str | None, key: str | None) -> list[tuple[str, Path]]:
    """(folder name, file) of every Parquet file to read: all of `parquet/` for the whole
    home, else the partition's image rows file (its table's, and an old layout's)."""
    root = home / "parquet"
    if key is not None:
        assert kind is not None
        found = [(t, root / t / f"{key}.parquet") for t in (image_table(kind), LEGACY_IMAGES)]
        return [(t, f) for t, f in found if f.is_file()]
    out = []
    for folder in _table_folders(home):
        for f in sorted(folder.iterdir()):
            if f.suffix == ".parquet" and not f.name.startswith((".", "_")) and f.is_file():
                out.append((folder.name, f))
    return out


def _read_all(home: Path, kind: str | None, key: str | None, report: VerifyReport,
              repair: bool) -> list[dict]:
    """Read every file in full; image rows are returned (a table's file wins over an old
    layout's of the same name), damaged files reported or, with repair, quarantined."""
    by_name: dict[str, list[dict]] = {}
    for folder, f in _parquet_files(home, kind, key):
        try:
            inode = f.stat().st_ino  # the file judged (a writer may replace it meanwhile)
            frame, damage = full_read_damage(f)
        except FileNotFoundError:
            continue  # removed meanwhile
        report.n_parquet_files += 1
        if damage is not None:
            _damaged(home, folder, f, inode, damage, report, repair)
            continue
        if folder in IMAGE_ROW_FOLDERS and f.name not in by_name:
            missing = [c for c in ROW_COLUMNS if c not in frame.columns]  # type: ignore[union-attr]
            if missing:
                report.problems.append(Problem(
                    "bad_rows", _rel(f, home), f"image rows without column(s) {missing}"))
                continue
            by_name[f.name] = frame.select(ROW_COLUMNS).to_dicts()  # type: ignore[union-attr]
    _drop_stale_compacted(home, report)
    _read_compacted(home, kind, key, report, by_name)
    if key is None:
        _check_other_compacted(home, report)
    return [row for name in sorted(by_name) for row in by_name[name]]


def _check_other_compacted(home: Path, report: VerifyReport) -> None:
    """The compacted file of every table that lists no image files, read in full: damaged,
    it is reported (never moved: its rows exist nowhere else), as every reader skips it."""
    for folder in _table_folders(home):
        if folder.name in IMAGE_ROW_FOLDERS:
            continue
        path = compacted_path(folder)
        try:
            _, damage = full_read_damage(path)
        except FileNotFoundError:
            continue
        report.n_parquet_files += 1
        if damage is not None:
            report.problems.append(_damaged_compacted(
                home, path, damage, f"the rows of {folder.name} it held"))


def _drop_stale_compacted(home: Path, report: VerifyReport) -> None:
    """A key quarantined just now may have compacted rows, older than the quarantined file:
    a compaction of its table drops them at once (`warehouse.compaction`), so no reader
    takes them for the key's rows. A table whose compaction is running is waited for, all
    of them within one `COMPACTION_WAIT_S`."""
    deadline = time.monotonic() + COMPACTION_WAIT_S
    for folder in sorted({f for f, _ in report.moved}):
        if not compacted_path(home / "parquet" / folder).is_file():
            continue
        result = compact_relation(home, folder)
        while result.skipped.startswith("busy") and time.monotonic() < deadline:
            time.sleep(0.25)  # the running compaction read the quarantine list before this
            result = compact_relation(home, folder)
        if result.dropped:
            report.notes.append(f"parquet/{folder}: older compacted rows of "
                                f"{', '.join(result.dropped)} dropped; the newer file is in "
                                "quarantine")
        elif result.skipped.startswith("busy"):
            report.notes.append(f"parquet/{folder}: a compaction still ran after "
                                f"{COMPACTION_WAIT_S:.0f} s; run `fakeimg verify --repair` "
                                "again to drop the older compacted rows of the keys "
                                "quarantined now (readers see them until then)")


def _read_compacted(home: Path, kind: str | None, key: str | None, report: VerifyReport,
                    by_name: dict[str, list[dict]]) -> None:
    """Add the compacted image rows (`warehouse.compaction`) of every key without a loose
    file (one of which, read or damaged, shadows them), as every reader sees them. A
    damaged compacted file is reported, never moved: its rows exist nowhere else, so its
    kind's image files are all kept (`_protected`)."""
    for table_kind, table in IMAGE_TABLES.items():
        if kind is not None and table_kind != kind:
            continue
        folder = home / "parquet" / table
        path = compacted_path(folder)
        if not path.is_file():
            continue
        loose = {f.stem for f in folder.glob("*.parquet") if not f.name.startswith((".", "_"))}
        if key is not None and key in loose:
            continue
        report.n_parquet_files += 1
        try:
            frame, damage = full_read_damage(path)
        except FileNotFoundError:
            continue
        if damage is not None:
            rel = _rel(path, home)
            report.damaged[(table, COMPACTED_DIR)] = f"{rel} is damaged ({damage})"
            report.problems.append(_damaged_compacted(
                home, path, damage, f"its rows, and every image file of images/{table_kind} "
                "is kept"))
            continue
        missing = [c for c in (*ROW_COLUMNS, PARTITION_COLUMN) if c not in frame.columns]  # type: ignore[union-attr]
        if missing:
            report.problems.append(Problem(
                "bad_rows", _rel(path, home), f"image rows without column(s) {missing}"))
            continue
        for (part,), rows in frame.group_by(PARTITION_COLUMN):  # type: ignore[union-attr]
            name = f"{part}.parquet"
            if ((key is not None and part != key) or part in loose or name in by_name
                    or (table, part) in report.moved):  # stale: its newer file is quarantined
                continue
            by_name[name] = rows.select(ROW_COLUMNS).to_dicts()


def _damaged(home: Path, folder: str, f: Path, inode: int, damage: str,
             report: VerifyReport, repair: bool) -> None:
    rel, key = _rel(f, home), f.stem
    rerun = rerun_for(folder, key)
    report.damaged[(folder, key)] = f"{rel} is damaged ({damage})"
    if not repair:
        report.problems.append(Problem(
            "bad_rows", rel,
            f"unreadable Parquet ({damage}); every reader skips it. `{FIX_COMMAND}` moves "
            f"it to quarantine/parquet/{folder}/{key}/ and marks it for re-run "
            f"({rerun.line()})"))
        return
    fd = None
    if folder in IMAGE_ROW_FOLDERS:  # a writer of this partition holds it for its whole write
        fd = locks.acquire(home, key, wait=False)
        if fd is None:
            report.problems.append(Problem(
                "bad_rows", rel, f"unreadable Parquet ({damage}); not quarantined: a writer "
                "of this partition is running, run verify again after it"))
            return
    try:
        try:
            moved = quarantine_file(home, f, folder, key, damage, rerun.line(), inode)
        except FileNotFoundError:
            return  # removed meanwhile: nothing to quarantine
        except OSError as exc:
            report.problems.append(Problem(
                "bad_rows", rel, f"unreadable Parquet ({damage}); could not move it to "
                f"quarantine: {exc}"))
            return
    finally:
        if fd is not None:
            locks.release(fd)
    if moved is None:
        report.notes.append(f"{rel} was re-written while verify ran: check it again")
        return
    shown = _rel(moved, home)
    report.moved.add((folder, key))
    report.quarantined.append(f"{rel} -> {shown} ({damage})")
    report.notes.append(f"{rel}: {rerun.line()}")
    if rerun.model_id is not None:
        _mark_for_rerun(home, rerun, rel, shown, damage, report)


def _mark_for_rerun(home: Path, rerun, original: str, moved: str, damage: str,  # noqa: ANN001
                    report: VerifyReport) -> None:

    failed_at = dt.datetime.now(dt.UTC)
    row = failure_row(rerun, original, moved, damage, failed_at)
    try:
        Warehouse(home).write("model_failures", failure_key(rerun, failed_at), [row])
    except Exception as exc:  # noqa: BLE001 - the file is safe in quarantine either way
        report.problems.append(Problem(
            "bad_rows", original, f"quarantined, but the model_failures row marking "
            f"{rerun.model_id} for re-run could not be written: {exc}"))


def _partition_of(key: str) -> tuple[str, str] | None:
    """`fake--org--name` -> ("fake", "org--name"), None when the key names no partition."""
    kind, sep, name = key.partition("--")
    if not sep:
        return None
    try:
        partition_folder(Path("."), kind, name)
    except ValueError:
        return None
    return kind, name


def _protected(home: Path, key: str | None, report: VerifyReport) -> dict[str, str]:
    """Image folders (relative to the home) whose rows cannot be read -> why: their files
    are never orphans. A key that names no partition protects its kind's whole folder.
    `key`: one partition's (only its rows matter), None for the whole home. Files this run
    found damaged count even when their footer reads (a page that does not decode)."""
    out: dict[str, str] = {}
    for folder in IMAGE_ROW_FOLDERS:
        root = home / "parquet" / folder
        keys = {key} if key is not None else (
            {f.stem for f in root.glob("*.parquet") if not f.name.startswith((".", "_"))}
            if root.is_dir() else set())
        keys |= set(quarantined_keys(home, folder)) if key is None else set()
        for k in sorted(keys):
            why = unproven_rows(home, folder, k) or report.damaged.get((folder, k))
            if why is None:
                continue
            part = _partition_of(k)
            if part is not None:
                where = _rel(partition_folder(home, *part), home)
            else:
                prefix = k.split("--", 1)[0]
                where = f"images/{prefix}" if prefix in KINDS else "images"
            out.setdefault(where, why)
    for table_kind, table in IMAGE_TABLES.items():  # a damaged compacted file: its whole kind
        why = report.damaged.get((table, COMPACTED_DIR))
        if why is not None:
            out.setdefault(f"images/{table_kind}", why)
    return out


def _awaiting_rerun(home: Path, report: VerifyReport) -> None:
    """A note for every quarantined file whose key was not written again since."""
    root = home / "quarantine" / "parquet"
    if not root.is_dir():
        return
    for folder in sorted(p.name for p in root.iterdir() if p.is_dir()):
        for k in quarantined_keys(home, folder):
            if (folder, k) in report.moved:
                continue  # moved by this run: its re-run is noted already
            why = unproven_rows(home, folder, k)
            if why is not None and "quarantined" in why:
                report.notes.append(f"{why}: {rerun_for(folder, k).line()}")


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


def _inside(rel: str, root: str) -> bool:
    return rel == root or rel.startswith(root + "/")


@dataclass
class _Walk:
    home: Path
    referenced: set[str]
    keep_dirs: set[str]
    protected: dict[str, str]
    report: VerifyReport
    repair: bool
    unlisted: dict[str, int] = field(default_factory=dict)  # protected folder -> files

    def walk(self, folder: Path) -> None:
        for entry in sorted(folder.iterdir()):
            rel = _rel(entry, self.home)
            if is_temporary_name(entry.name):  # never published, even in a protected partition
                _temp_entry(self.report, entry, rel, "half-written by a killed or failed write",
                            self.repair)
                continue
            guard = next((p for p in self.protected if _inside(rel, p)), None)
            if entry.is_dir() and not entry.is_symlink():
                if (rel in self.keep_dirs or guard is not None
                        or any(_inside(p, rel) for p in self.protected)):
                    self.walk(entry)
                else:
                    n = sum(1 for p in entry.rglob("*") if p.is_file())
                    _found(self.report, Problem(
                        "orphan", rel + "/", f"folder of {n} files no row points into"),
                        entry, self.repair)
            elif rel in self.referenced:
                continue
            elif guard is not None:
                self.unlisted[guard] = self.unlisted.get(guard, 0) + 1
            else:
                _found(self.report, Problem("orphan", rel, "file no row points at"),
                       entry, self.repair)

    def report_unlisted(self) -> None:
        for folder, n in sorted(self.unlisted.items()):
            self.report.problems.append(Problem(
                "unverifiable", folder + "/",
                f"{n} files no readable row lists, kept (never orphans): "
                f"{self.protected[folder]}; re-run the partition or restore the file"))


def _temp_entry(report: VerifyReport, entry: Path, rel: str, why: str, repair: bool) -> None:
    """A temporary name: a dead writer's leftover is a problem (removed with `repair`); a
    live writer's is its work in progress, and so may be another machine's (counted)."""
    if is_leftover(entry):
        _found(report, Problem("leftover", rel, why), entry, repair)
    elif (machine := other_machine(entry)) is not None:
        report.elsewhere[machine] = report.elsewhere.get(machine, 0) + 1


def _found(report: VerifyReport, problem: Problem, path: Path, repair: bool) -> None:
    if repair:
        remove_path(path)
        report.repaired.append(problem.path)
    else:
        report.problems.append(problem)


def _parquet_folders(home: Path, kind: str | None, key: str | None) -> list[Path]:
    """The Parquet folders one partition's check (or the whole home's) looks into."""
    root = home / "parquet"
    if not root.is_dir():
        return []
    if key is not None and kind is not None:
        folders = [root / image_table(kind), root / LEGACY_IMAGES]
    else:
        folders = [root, *sorted(root.iterdir())]
    return [f for f in folders if f.is_dir()]


def _put_back_set_aside(home: Path, kind: str | None, key: str | None,
                        report: VerifyReport) -> None:
    """Before any row is read: loose files a killed compaction had set aside go back
    (`warehouse.compaction.restore_set_aside`), so their rows, the newest of their keys,
    count and their images are never taken for orphans."""
    for folder in _parquet_folders(home, kind, key):
        restored = put_back_set_aside(folder)
        if restored is None:
            report.notes.append(f"{_rel(folder, home)}: a compaction is running; run "
                                "`fakeimg verify --repair` again once it is over")
        for path in restored or []:
            report.notes.append(f"put back {_rel(path, home)}, set aside by a killed compaction")


def _parquet_leftovers(home: Path, kind: str | None, key: str | None, report: VerifyReport,
                       repair: bool) -> None:
    if not (home / "parquet").is_dir():
        return
    for folder in _parquet_folders(home, kind, key):
        aside = set(set_aside_files(folder))
        for entry in sorted(folder.iterdir()):
            if key is not None and not entry.name.startswith(f".{key}."):
                continue
            if entry in aside:  # never removed: its rows may be the newest of its key
                report.problems.append(Problem(
                    "leftover", _rel(entry, home), "a loose file a killed compaction set "
                    "aside; `fakeimg verify --repair` puts it back"))
                continue
            if is_temporary_name(entry.name):
                _temp_entry(report, entry, _rel(entry, home), "temp Parquet of a killed write",
                            repair)
    if key is None:
        for entry in sorted(home.iterdir()):
            if is_temporary_name(entry.name):
                _temp_entry(report, entry, _rel(entry, home), "temp file of a killed write",
                            repair)


def verify(home: Path | str | None = None, *, kind: str | None = None, name: str | None = None,
           repair: bool = False, hashes: bool = True) -> VerifyReport:
    """Check the whole home, or one partition (`kind` "fake"/"real" and its `name`).

    Problems: `bad_path`, `missing_file`, `sha256_mismatch` (a row without its file),
    `orphan` (a file without its row), `leftover` (temp files and staging folders of
    dead writers), `bad_rows` (an unreadable Parquet file, of any relation),
    `unverifiable` (files of a partition whose rows are damaged or quarantined: kept).
    With `repair`, orphans and leftovers are removed (listed in `repaired`) and damaged
    Parquet files quarantined (`quarantined`, with the re-run in `notes`); row problems
    are only reported.
    """
    home = fakeimg_home(home)
    report = VerifyReport(home=home)
    if (kind is None) != (name is None):
        raise ValueError("verify one partition with both kind and name, or the whole home")
    key = partition_key(kind, name) if kind is not None and name is not None else None
    if key is not None:
        partition_folder(home, kind, name)  # type: ignore[arg-type] - refuses a bad name
    if repair:
        _put_back_set_aside(home, kind, key, report)
    rows = _read_all(home, kind, key, report, repair)
    report.n_rows = len(rows)
    referenced = _check_rows(home, rows, hashes, report)
    keep_dirs = {str(parent) for p in referenced for parent in PurePosixPath(p).parents}
    protected = _protected(home, key, report)
    if key is not None:
        folders = [partition_folder(home, kind, name)]  # type: ignore[arg-type]
        parent = folders[0].parent
        if parent.is_dir():  # the pre-versioning code's `.NAME.staging-*` siblings
            for entry in sorted(parent.iterdir()):
                if entry.name.startswith(f".{name}.") and is_temporary_name(entry.name):
                    _temp_entry(report, entry, _rel(entry, home), "old staging", repair)
    else:
        folders = [home / "images"]
        keep_dirs |= {"images", *(f"images/{k}" for k in KINDS)}
    walk = _Walk(home, referenced, keep_dirs, protected, report, repair)
    for folder in folders:
        if folder.is_dir():
            walk.walk(folder)
    walk.report_unlisted()
    _parquet_leftovers(home, kind, key, report, repair)
    if key is None:
        _awaiting_rerun(home, report)
    if report.elsewhere:
        machines = ", ".join(f"{m} ({n})" for m, n in sorted(report.elsewhere.items()))
        report.notes.append(
            f"kept the temp files of other machines sharing this home: {machines}; a pid "
            "means nothing here, so their writers may still run. `fakeimg verify --repair` "
            "on that machine removes the ones it left when killed")
    return report


