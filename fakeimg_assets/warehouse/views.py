"""`warehouse.duckdb`: the views users open in the DuckDB CLI, kept valid for THIS home.

The views hold absolute paths (DuckDB resolves relative ones against the process CWD, not
the database file), so the database records the home it was built for and every view
carries a guard: opened from a copied or moved home before the views were rebuilt, a query
fails naming the stale path and the fix instead of reading the original's rows. fakeimg
itself never reads through this file (see `Warehouse.connect_memory`), so a user holding
it open never blocks a run. The file is written in an old storage format so the DuckDB
CLI users have (duckdb-cli 1.5.x reads storage versions 64..68) opens it.

What each view reads comes from `warehouse.sources`: the folder's escaped glob while all
its files are readable (new partitions then appear with no rebuild, even while a user
holds the file open and under many parallel writers), else an explicit list of the
readable files. The stamp records a fingerprint of those expressions, so a write rebuilds
the views only when one changed: a file was damaged or repaired, or a listed relation
gained or lost a file. The damaged files skipped are listed in `fakeimg_damaged_files`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fakeimg_assets.integrity.parquet_health import FIX_COMMAND
from fakeimg_assets.lib.leftovers import remove_stale_temp_files, writer_id
from fakeimg_assets.warehouse.schemas import RELATIONS, UNION_VIEWS, schema_of
from fakeimg_assets.warehouse.sources import RelationFiles, sql_str, union_sql

# duckdb 2.x writes storage version 999 by default; "v1.0.0" writes 64, readable by 1.0..1.5.
STORAGE_COMPATIBILITY = "v1.0.0"
READABLE_STORAGE_VERSIONS = range(64, 69)
LAYOUT_VERSION = 3  # 3: one storage table per asset; images/image_stats/detector_runs unions
META_TABLE = "fakeimg_meta"
DAMAGED_TABLE = "fakeimg_damaged_files"  # files the views skip, with the fix
STAMP_FILE = ".views.json"  # cache of the check, so writes need not open the database
OLD_STAMP = Path("parquet") / ".views-v1"


def storage_version(path: Path) -> int | None:
    """The storage version number in a DuckDB file's header (None: not a DuckDB file)."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[8:12] != b"DUCK":
        return None
    return struct.unpack("<Q", head[12:20])[0]


def guarded_view_sql(relation: str, source_sql: str, database_path: Path, home: Path) -> str:
    """A view over `source_sql` (a `read_parquet(...)`) that errors when opened from another
    location."""
    cols = ", ".join(f'"{c}"' for c in schema_of(relation))
    message = (
        f"fakeimg: this warehouse.duckdb was built for FAKEIMG_HOME={home} but was opened "
        "from another location (a moved or copied home); its views would read the old "
        "location's files. Fix: run `FAKEIMG_HOME=<this folder> fakeimg verify` (or any "
        "fakeimg command) to rebuild the views for this folder."
    )
    guard = (
        "(SELECT CASE WHEN count(*) FILTER (WHERE path = "
        f"{sql_str(database_path.as_posix())}) > 0 THEN true ELSE error({sql_str(message)}) END "
        "FROM duckdb_databases())"
    )
    return (
        f'CREATE OR REPLACE VIEW "{relation}" AS SELECT {cols} FROM '
        f"{source_sql} WHERE {guard}"
    )


def union_view_sql(relation: str, sources: dict[str, RelationFiles], database_path: Path,
                   home: Path) -> str:
    """`relation` over every file of its storage tables at once (`sources.union_sql`),
    guarded like theirs."""
    return guarded_view_sql(relation, union_sql([sources[p] for p in UNION_VIEWS[relation]]),
                            database_path, home)


def schema_fingerprint() -> str:
    """Changes when any relation gains, loses or retypes a column (views list columns)."""
    text = json.dumps({"tables": {r: {c: str(t) for c, t in schema_of(r).items()} for r in RELATIONS},
                       "unions": UNION_VIEWS}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sources_fingerprint(sources: dict[str, RelationFiles]) -> str:
    """Changes when a view's files change: a damaged or repaired file, or a file added to or
    removed from a relation read through an explicit list (a glob's text stays the same)."""
    text = json.dumps({r: [f.read_parquet_sql(), [p.as_posix() for p, _ in f.damaged]]
                       for r, f in sorted(sources.items())})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _expected(home: Path, database_path: Path, sources: dict[str, RelationFiles]) -> dict:
    return {"home": home.as_posix(), "database": database_path.as_posix(),
            "layout": LAYOUT_VERSION, "storage": STORAGE_COMPATIBILITY,
            "schema": schema_fingerprint(), "sources": sources_fingerprint(sources)}


def views_current(home: Path, database_path: Path, sources: dict[str, RelationFiles]) -> bool:
    """Cheap check (no database open): the stamp says the views were built for this home
    and these files."""
    stamp = home / STAMP_FILE
    if not database_path.exists() or not stamp.exists():
        return False
    try:
        return json.loads(stamp.read_text()) == _expected(home, database_path, sources)
    except (OSError, ValueError):
        return False


class DatabaseSkippedWarning(UserWarning):
    """`warehouse.duckdb` was not written: DuckDB cannot open a database at that path."""


def unopenable_reason(database_path: Path) -> str | None:
    """Why DuckDB cannot open a database file at this path, or None.

    DuckDB turns every `\\` of a database path into `/` (a Windows habit), so it would
    open, or create, a database in ANOTHER folder: `a\\b/warehouse.duckdb` is read as
    `a/b/warehouse.duckdb`, possibly another home's.
    """
    text = database_path.resolve().as_posix()
    if "\\" in text:
        return (f"DuckDB reads the backslash in {text} as a folder separator and would open "
                f"{text.replace(chr(92), '/')} instead")
    return None


def writable_in_place(database_path: Path) -> bool:
    """DuckDB can commit to a database in this folder.

    It names the write-ahead log by inserting `.wal` before the first `?` of the (resolved)
    path, reading `?` as the start of connection options, so in a home like `h[o]me*?`
    every commit fails. There the database is built in a private temp folder and moved in
    (`_rebuild_file`); reading it where it lies works, so users open it as usual.
    """
    return "?" not in database_path.parent.resolve().as_posix()


@contextmanager
def _build_folder(database_path: Path) -> Iterator[Path]:
    """The folder to build the new database in: beside the old one, or a private temp one."""
    if writable_in_place(database_path):
        yield database_path.parent
        return
    folder = Path(tempfile.mkdtemp(prefix="fakeimg-duckdb-"))  # mode 0700, ours alone
    try:
        if not writable_in_place(folder / "x"):
            raise ValueError(f"the temp folder {folder} holds a '?': set TMPDIR elsewhere")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _connect_unless_locked(path: Path, attempts: int):  # -> connection | None
    """Open read-write; None if another process holds the file through every attempt."""
    import duckdb

    for attempt in range(attempts):
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if attempt < attempts - 1:
                time.sleep(0.05 * 2**attempt)
    return None


def _create_views(con, home: Path, database_path: Path,  # noqa: ANN001
                  sources: dict[str, RelationFiles]) -> None:
    for relation in RELATIONS:
        con.execute(guarded_view_sql(relation, sources[relation].read_parquet_sql(),
                                     database_path, home))
    for relation in UNION_VIEWS:
        con.execute(union_view_sql(relation, sources, database_path, home))
    con.execute(f"CREATE OR REPLACE TABLE {META_TABLE} (key VARCHAR, value VARCHAR)")
    rows = [(k, str(v)) for k, v in _expected(home, database_path, sources).items()]
    con.executemany(f"INSERT INTO {META_TABLE} VALUES (?, ?)", rows)
    con.execute(f"CREATE OR REPLACE TABLE {DAMAGED_TABLE} "
                "(relation VARCHAR, path VARCHAR, error VARCHAR, fix VARCHAR)")
    fix = f"FAKEIMG_HOME={home} {FIX_COMMAND}"
    damaged = [(r, p.as_posix(), why, fix) for r in RELATIONS for p, why in sources[r].damaged]
    if damaged:
        con.executemany(f"INSERT INTO {DAMAGED_TABLE} VALUES (?, ?, ?, ?)", damaged)


def _recorded(con) -> dict:  # noqa: ANN001
    try:
        return dict(con.execute(f"SELECT key, value FROM {META_TABLE}").fetchall())
    except Exception:  # noqa: BLE001 - databases written before the meta table existed
        return {}


def _rebuild_file(home: Path, database_path: Path, sources: dict[str, RelationFiles]) -> bool:
    """Write a fresh database in the compatible format beside the old one, then swap it in.

    User tables of the old file are copied over; fakeimg's own views are re-created.
    Returns False when another process holds the old file (the next write retries).
    """
    remove_stale_temp_files(database_path.parent, f".{database_path.name}.")
    tmp = database_path.with_name(f".{database_path.name}.{writer_id()}.{uuid.uuid4().hex[:8]}.tmp")
    with _build_folder(database_path) as folder:
        built = folder / tmp.name
        if not _build(home, database_path, built, sources):
            return False
        if built != tmp:
            shutil.move(built, tmp)  # into the home first, so the swap below is one rename
    os.replace(tmp, database_path)
    Path(f"{database_path}.wal").unlink(missing_ok=True)
    return True


def _build(home: Path, database_path: Path, tmp: Path, sources: dict[str, RelationFiles]) -> bool:
    """Write the new database at `tmp` (user tables of the old one copied over)."""
    import duckdb

    con = duckdb.connect(str(tmp), config={"storage_compatibility_version": STORAGE_COMPATIBILITY})
    built = False
    try:
        if database_path.exists():
            try:
                con.execute(f"ATTACH {sql_str(str(database_path))} AS fakeimg_old (READ_ONLY)")
            except duckdb.Error as exc:
                if "lock" not in str(exc).lower():
                    raise ValueError(
                        f"{database_path} is not a readable DuckDB database ({exc}); move it "
                        "away and rerun: fakeimg rebuilds it from the Parquet files"
                    ) from exc
                return False  # held by another process: the next write or command retries
            _copy_user_tables(con)
            con.execute("DETACH fakeimg_old")
        _create_views(con, home, database_path, sources)
        built = True
    finally:
        con.close()
        if not built:
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}.wal").unlink(missing_ok=True)
    return True


def _copy_user_tables(con) -> None:  # noqa: ANN001
    """Tables a user created in the old file survive the format migration."""
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = "
        "'fakeimg_old' AND table_name NOT IN (?, ?) AND NOT temporary",
        [META_TABLE, DAMAGED_TABLE]
    ).fetchall()
    for schema, table in tables:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        con.execute(
            f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM fakeimg_old."{schema}"."{table}"'
        )


def ensure_views(home: Path, database_path: Path, sources: dict[str, RelationFiles],
                 *, force: bool = False, attempts: int = 4) -> bool:
    """Make `warehouse.duckdb` serve THIS home's Parquet; False if it is locked (retry later).

    Rebuilt when missing, written in a storage format the DuckDB CLI cannot read (the old
    code's), built for another home (copied or moved), of an older layout, or for other
    files (`sources_fingerprint`).
    """
    expected = _expected(home, database_path, sources)
    if not force and views_current(home, database_path, sources):
        return True
    reason = unopenable_reason(database_path)
    if reason is not None:
        warnings.warn(DatabaseSkippedWarning(
            f"{database_path} is not written: {reason}. fakeimg's own commands read this "
            "home's files directly; for the DuckDB CLI, use a FAKEIMG_HOME without a "
            "backslash"), stacklevel=3)
        return False
    home.mkdir(parents=True, exist_ok=True)
    version = storage_version(database_path)
    if (version is None or version not in READABLE_STORAGE_VERSIONS
            or not writable_in_place(database_path)):
        if not _rebuild_file(home, database_path, sources):
            return False
    else:
        con = _connect_unless_locked(database_path, attempts)
        if con is None:
            return False
        try:
            if force or _recorded(con) != {k: str(v) for k, v in expected.items()}:
                _create_views(con, home, database_path, sources)
        finally:
            con.close()
    stamp = home / STAMP_FILE
    tmp = stamp.with_name(f"{STAMP_FILE}.{writer_id()}.tmp")
    tmp.write_text(json.dumps(expected))
    os.replace(tmp, stamp)
    (home / OLD_STAMP).unlink(missing_ok=True)
    return True
