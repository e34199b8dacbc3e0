"""Compaction: a storage table's per-partition files folded into one sorted file.

Partitions keep writing their own files (`parquet/<table>/<key>.parquet`, temp name then
rename), so parallel runs never contend for a lock. At research scale (5,000 partitions,
3 M image rows) a query over 5,000 files spent seconds opening them; compaction folds them
into `parquet/<table>/_compacted/data.parquet`, sorted by a `_partition` column that names
each row's partition file key (DuckDB then skips row groups on a key's filter).

One compaction per table at a time (an exclusive `flock` on `_compacted/.lock`; another
returns at once, `busy`). It:
1. lists the loose files (a damaged one stays loose and named; a key with a quarantined copy
   stays loose, so `integrity.quarantine.unproven_rows` keeps judging it by its own file,
   and its compacted rows, older than the quarantined copy, are dropped: a quarantined key
   shows no rows, as it did before any compaction);
2. writes the new compacted file to a temp name with DuckDB, streaming: the loose files'
   rows plus the old compacted rows of every other key, in the order readers saw the loose
   files in (by file name, then row), so no reader's row order changes;
3. checks its row count against the sum of its inputs, then renames it into place;
4. retires each folded loose file only if it is still the file that was read: renamed
   aside, its inode compared, and linked back when a writer replaced it meanwhile (the newer
   file then shadows the compacted rows, as every reader expects). A compaction killed in
   between leaves the file under an aside name (`.<key>.retire.<pid>.<hex>.aside`, which no
   sweeper of dead writers' temp files takes); the next compaction and `verify --repair`
   put it back before anything else.
A zero-row loose file (`Warehouse.delete` of a compacted key) is a tombstone: the key's
compacted rows are dropped, and the tombstone is retired with them.

Readers see the same rows before, during and after (`warehouse.sources`): loose files, plus
compacted rows of keys without a loose file.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from fakeimg_assets.integrity.quarantine import quarantined_keys
from fakeimg_assets.lib.flock import open_locked, unlock
from fakeimg_assets.lib.leftovers import Writer, parse_writer, remove_stale_temp_files, writer_id
from fakeimg_assets.warehouse.schemas import schema_of
from fakeimg_assets.warehouse.sources import (
    COMPACTED_DIR,
    PARTITION_COLUMN,
    RelationFiles,
    compacted_path,
    duckdb_path,
    scan,
    sql_str,
)

# Measured at 3 M rows (docs/operations.md): a query's fixed cost is reading the footer, which
# grows with row groups x columns, so row groups are large; the page index with small pages
# lets DuckDB (`parquet_use_page_index`, on by default) skip inside a row group on a filter.
ROW_GROUP_ROWS = 250_000
PAGE_BYTES = 32_768
LOCK_NAME = ".lock"
RETIRE_MARK = ".retire."  # `.<key>.retire.<machine>~<pid>.<hex>.aside`: a loose file being retired
ASIDE_SUFFIX = ".aside"


class CompactionError(RuntimeError):
    """The compacted file did not hold what its inputs held: nothing was replaced."""


@dataclass(frozen=True)
class CompactionResult:
    relation: str
    folded: int = 0  # loose files folded into the compacted file
    retired: int = 0  # of those, removed (the rest were rewritten meanwhile and stay)
    rows: int = 0  # rows of the compacted file now
    seconds: float = 0.0
    skipped: str = ""  # why nothing was done ('' when it ran)
    damaged: tuple[str, ...] = ()  # loose files left out: unreadable (`fakeimg verify`)
    dropped: tuple[str, ...] = ()  # keys whose stale compacted rows were dropped (quarantine)

    def summary(self) -> str:
        """One line: what was folded, or why nothing was."""
        if not self.folded and not self.dropped:
            return f"{self.relation}: {self.skipped}"
        dropped = (f", stale compacted rows of {len(self.dropped)} quarantined keys dropped"
                   if self.dropped else "")
        return (f"{self.relation}: {self.folded} files folded ({self.retired} retired)"
                f"{dropped}, {self.rows:,} rows, {self.seconds:.2f} s")

    def warnings(self) -> list[str]:
        """One line per unreadable loose file left out."""
        return [f"{self.relation}: {name} is unreadable and stays loose: run `fakeimg verify`"
                for name in self.damaged]


def _loose_inputs(home: Path, relation: str, files: RelationFiles) -> list[tuple[Path, int]]:
    """(file, inode) of every loose file to fold: readable, not the schema file, and not a
    key with a quarantined copy."""
    held = set(quarantined_keys(home, relation))
    out = []
    for path in files.readable:
        if path.name.startswith("_") or path.stem in held:
            continue
        try:
            out.append((path, path.stat().st_ino))
        except FileNotFoundError:
            continue
    return out


def _stale_keys(target: Path, held: list[str]) -> tuple[str, ...]:
    """Keys of `held` (each with a quarantined copy) that still have rows in the compacted
    file `target`. Those rows are older than the quarantined copy (a key with a quarantined
    copy is never folded again), so they are stale: kept, they would come back as the key's
    rows once its newer file was quarantined."""
    import duckdb

    if not held:
        return ()
    con = duckdb.connect(":memory:")
    try:
        found = con.execute(
            f"SELECT DISTINCT {PARTITION_COLUMN} FROM read_parquet({sql_str(duckdb_path(target))}) "
            f"WHERE {PARTITION_COLUMN} IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1",
            [held]).fetchall()
    finally:
        con.close()
    return tuple(k for (k,) in found)


def _retire(path: Path, inode: int) -> bool:
    """Remove `path` if it is still the file `inode` (folded); True when removed.

    Killed between the rename aside and the unlink or link back, the file waits under its
    aside name until `restore_set_aside` puts it back (the next compaction, `verify`)."""
    aside = path.with_name(f".{path.stem}{RETIRE_MARK}{writer_id()}.{uuid.uuid4().hex[:8]}"
                           f"{ASIDE_SUFFIX}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False  # deleted meanwhile (a writer's temp swap, or a delete)
    if os.stat(aside).st_ino == inode:
        os.unlink(aside)
        return True
    try:  # a writer replaced it after we read it: the newer file goes back
        os.link(aside, path)
    except FileExistsError:
        pass  # an even newer one is there: ours is superseded
    os.unlink(aside)
    return False


def _aside_owner(name: str) -> Writer | None:
    """The compaction that set this file aside, None if not such a name."""
    if not (name.startswith(".") and name.endswith(ASIDE_SUFFIX) and RETIRE_MARK in name):
        return None
    writer, _, tag = name[name.rindex(RETIRE_MARK) + len(RETIRE_MARK):-len(ASIDE_SUFFIX)].partition(".")
    return parse_writer(writer) if len(tag) == 8 else None


def set_aside_files(folder: Path, *, locked: bool = False) -> list[Path]:
    """Loose files a killed compaction had renamed aside to retire them.
    Their names are no temporary names (`lib.leftovers`): no sweeper of dead writers'
    files removes them.

    `locked`: the caller holds the table's compaction lock, so whoever set a file aside no
    longer runs (a compaction resolves its own before letting go), on any machine: every
    one counts. Otherwise only those whose compaction is known dead (this machine's, with
    its pid gone): another machine's pid means nothing here."""
    if not folder.is_dir():
        return []
    out = []
    for entry in folder.iterdir():
        writer = _aside_owner(entry.name)
        if writer is not None and (locked or writer.dead):
            out.append(entry)
    return sorted(out)


def restore_set_aside(folder: Path) -> list[Path]:
    """With the table's compaction lock held: put back each file a killed compaction set
    aside (`set_aside_files`), under its own name, unless a newer file
    of that key is there (then the set-aside one is superseded and removed); returns the
    files put back. A put-back file that was folded only repeats its compacted rows, which it
    shadows; one a writer had replaced is the key's newest rows, which would otherwise be
    lost (a dead writer's temp files are removed by the writers and `verify --repair`)."""
    restored = []
    for aside in set_aside_files(folder, locked=True):
        target = folder / f"{aside.name[1:aside.name.rindex(RETIRE_MARK)]}.parquet"
        try:
            os.link(aside, target)
        except FileExistsError:
            pass
        else:
            restored.append(target)
        os.unlink(aside)
    return restored


def put_back_set_aside(folder: Path) -> list[Path] | None:
    """`restore_set_aside` under the table's compaction lock (no compaction is retiring
    files meanwhile, on any machine sharing the folder); None when one holds it."""
    lock_dir = compacted_path(folder).parent
    if not lock_dir.is_dir():
        return []  # never compacted: nothing was set aside
    fd = open_locked(lock_dir / LOCK_NAME, wait=False)
    if fd is None:
        return None
    try:
        return restore_set_aside(folder)
    finally:
        unlock(fd)


def compact_relation(home: Path, relation: str) -> CompactionResult:
    """Fold the loose files of storage table `relation` under `home` into its compacted
    file (see the module docstring). Safe beside running writers and readers."""
    import duckdb

    t0 = time.perf_counter()
    schema = schema_of(relation)
    folder = Path(home) / "parquet" / relation
    if not folder.is_dir():
        return CompactionResult(relation, skipped="no files")
    target = compacted_path(folder)
    target.parent.mkdir(exist_ok=True)
    fd = open_locked(target.parent / LOCK_NAME, wait=False)
    if fd is None:
        return CompactionResult(relation, skipped="busy: another compaction holds it")
    try:
        restore_set_aside(folder)
        files = scan(folder)
        inputs = _loose_inputs(home, relation, files)
        damaged = tuple(p.name for p, _ in files.damaged if p.parent == folder)
        stale = _stale_keys(target, quarantined_keys(home, relation)) if files.compacted else ()
        if not inputs and not stale:
            return CompactionResult(relation, skipped="nothing loose", damaged=damaged)
        remove_stale_temp_files(target.parent, ".data.")
        tmp = target.with_name(f".data.{writer_id()}.{uuid.uuid4().hex[:8]}.tmp")
        cols = ", ".join(f'"{c}"' for c in schema)
        listed = ", ".join(sql_str(duckdb_path(p)) for p, _ in inputs)
        keys = ", ".join(sql_str(k) for k in [*(p.stem for p, _ in inputs), *stale])
        parts = []
        if inputs:
            parts.append(f"SELECT {cols}, parse_filename(filename, true) AS {PARTITION_COLUMN}, "
                         f"file_row_number AS _row FROM read_parquet([{listed}], union_by_name "
                         "= true, filename = true, file_row_number = true)")
        if target.is_file():
            parts.append(f"SELECT {cols}, {PARTITION_COLUMN}, file_row_number AS _row FROM "
                         f"read_parquet({sql_str(duckdb_path(target))}, file_row_number = true) "
                         f"WHERE {PARTITION_COLUMN} NOT IN ({keys})")
        body = " UNION ALL BY NAME ".join(parts)
        # the order every reader saw the loose files in: by file name, then row (a key's rows
        # are contiguous and in order in the old compacted file too), so no reader's row
        # order changes; the file name, not the key: `a-b.parquet` sorts before `a.parquet`
        order = f"{PARTITION_COLUMN} || '.parquet', _row"
        con = duckdb.connect(":memory:")
        try:
            expected = sum(con.execute(f"SELECT count(*) FROM ({p})").fetchone()[0]
                           for p in parts)
            con.execute(f"COPY (SELECT * EXCLUDE (_row) FROM ({body}) ORDER BY {order}) TO "
                        f"{sql_str(str(tmp))} (FORMAT parquet, ROW_GROUP_SIZE {ROW_GROUP_ROWS}, "
                        f"WRITE_PAGE_INDEX true, DATA_PAGE_SIZE_LIMIT {PAGE_BYTES})")
            written = con.execute(
                f"SELECT count(*) FROM read_parquet({sql_str(duckdb_path(tmp))})").fetchone()[0]
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            con.close()
        if written != expected:
            tmp.unlink(missing_ok=True)
            raise CompactionError(f"{relation}: the compacted file holds {written} rows, its "
                                  f"inputs {expected}; nothing was replaced")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
        retired = sum(_retire(path, inode) for path, inode in inputs)
        return CompactionResult(relation, folded=len(inputs), retired=retired, rows=written,
                                seconds=time.perf_counter() - t0, damaged=damaged,
                                dropped=stale)
    finally:
        unlock(fd)


def compact_home(home: Path, relations: list[str] | None = None) -> list[CompactionResult]:
    """Compact every storage table of `home` (or `relations`)."""
    from fakeimg_assets.warehouse.schemas import RELATIONS

    return [compact_relation(home, r) for r in (relations or list(RELATIONS))]


__all__ = ["COMPACTED_DIR", "CompactionError", "CompactionResult", "compact_home",
           "compact_relation", "put_back_set_aside", "restore_set_aside", "set_aside_files"]
