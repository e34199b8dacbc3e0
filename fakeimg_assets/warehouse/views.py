"""`warehouse.duckdb`: the views users open in the DuckDB CLI, kept valid for THIS home.

The views hold absolute globs (DuckDB resolves relative ones against the process CWD, not
the database file), so the database records the home it was built for and every view
carries a guard: opened from a copied or moved home before the views were rebuilt, a query
fails naming the stale path and the fix instead of reading the original's rows. fakeimg
itself never reads through this file (see `Warehouse.connect_memory`), so a user holding
it open never blocks a run. The file is written in an old storage format so the DuckDB
CLI users have (duckdb-cli 1.5.x reads storage versions 64..68) opens it.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
import uuid
from pathlib import Path

from fakeimg_assets.integrity.leftovers import remove_stale_temp_files
from fakeimg_assets.warehouse.schemas import RELATIONS, UNION_VIEWS, schema_of

# duckdb 2.x writes storage version 999 by default; "v1.0.0" writes 64, readable by 1.0..1.5.
STORAGE_COMPATIBILITY = "v1.0.0"
READABLE_STORAGE_VERSIONS = range(64, 69)
LAYOUT_VERSION = 3  # 3: one storage table per asset; images/image_stats/detector_runs unions
META_TABLE = "fakeimg_meta"
STAMP_FILE = ".views.json"  # cache of the check, so writes need not open the database
OLD_STAMP = Path("parquet") / ".views-v1"


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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


def guarded_view_sql(relation: str, parquet_dir: Path, database_path: Path, home: Path) -> str:
    """A view over `parquet_dir/*.parquet` that errors when opened from another location."""
    glob = (parquet_dir / "*.parquet").as_posix()
    cols = ", ".join(f'"{c}"' for c in schema_of(relation))
    message = (
        f"fakeimg: this warehouse.duckdb was built for FAKEIMG_HOME={home} but was opened "
        "from another location (a moved or copied home); its views would read the old "
        "location's files. Fix: run `FAKEIMG_HOME=<this folder> fakeimg verify` (or any "
        "fakeimg command) to rebuild the views for this folder."
    )
    guard = (
        "(SELECT CASE WHEN count(*) FILTER (WHERE path = "
        f"{_sql_str(database_path.as_posix())}) > 0 THEN true ELSE error({_sql_str(message)}) END "
        "FROM duckdb_databases())"
    )
    return (
        f'CREATE OR REPLACE VIEW "{relation}" AS SELECT {cols} FROM '
        f"read_parquet({_sql_str(glob)}, union_by_name = true) WHERE {guard}"
    )


def union_view_sql(relation: str) -> str:
    """`relation` as UNION ALL of its storage tables' views (their guards apply)."""
    cols = ", ".join(f'"{c}"' for c in schema_of(relation))
    body = " UNION ALL ".join(f'SELECT {cols} FROM "{part}"' for part in UNION_VIEWS[relation])
    return f'CREATE OR REPLACE VIEW "{relation}" AS {body}'


def schema_fingerprint() -> str:
    """Changes when any relation gains, loses or retypes a column (views list columns)."""
    text = json.dumps({"tables": {r: {c: str(t) for c, t in schema_of(r).items()} for r in RELATIONS},
                       "unions": UNION_VIEWS}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _expected(home: Path, database_path: Path) -> dict:
    return {"home": home.as_posix(), "database": database_path.as_posix(),
            "layout": LAYOUT_VERSION, "storage": STORAGE_COMPATIBILITY,
            "schema": schema_fingerprint()}


def views_current(home: Path, database_path: Path) -> bool:
    """Cheap check (no database open): the stamp says the views were built for this home."""
    stamp = home / STAMP_FILE
    if not database_path.exists() or not stamp.exists():
        return False
    try:
        return json.loads(stamp.read_text()) == _expected(home, database_path)
    except (OSError, ValueError):
        return False


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


def _create_views(con, home: Path, database_path: Path, parquet_dirs: dict[str, Path]) -> None:  # noqa: ANN001
    for relation in RELATIONS:
        con.execute(guarded_view_sql(relation, parquet_dirs[relation], database_path, home))
    for relation in UNION_VIEWS:
        con.execute(union_view_sql(relation))
    con.execute(f"CREATE OR REPLACE TABLE {META_TABLE} (key VARCHAR, value VARCHAR)")
    rows = [(k, str(v)) for k, v in _expected(home, database_path).items()]
    con.executemany(f"INSERT INTO {META_TABLE} VALUES (?, ?)", rows)


def _recorded(con) -> dict:  # noqa: ANN001
    try:
        return dict(con.execute(f"SELECT key, value FROM {META_TABLE}").fetchall())
    except Exception:  # noqa: BLE001 - databases written before the meta table existed
        return {}


def _rebuild_file(home: Path, database_path: Path, parquet_dirs: dict[str, Path]) -> bool:
    """Write a fresh database in the compatible format beside the old one, then swap it in.

    User tables of the old file are copied over; fakeimg's own views are re-created.
    Returns False when another process holds the old file (the next write retries).
    """
    import duckdb

    remove_stale_temp_files(database_path.parent, f".{database_path.name}.")
    tmp = database_path.with_name(f".{database_path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    con = duckdb.connect(str(tmp), config={"storage_compatibility_version": STORAGE_COMPATIBILITY})
    built = False
    try:
        if database_path.exists():
            try:
                con.execute(f"ATTACH {_sql_str(str(database_path))} AS fakeimg_old (READ_ONLY)")
            except duckdb.Error as exc:
                if "lock" not in str(exc).lower():
                    raise ValueError(
                        f"{database_path} is not a readable DuckDB database ({exc}); move it "
                        "away and rerun: fakeimg rebuilds it from the Parquet files"
                    ) from exc
                return False  # held by another process: the next write or command retries
            _copy_user_tables(con)
            con.execute("DETACH fakeimg_old")
        _create_views(con, home, database_path, parquet_dirs)
        built = True
    finally:
        con.close()
        if not built:
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}.wal").unlink(missing_ok=True)
    os.replace(tmp, database_path)
    Path(f"{database_path}.wal").unlink(missing_ok=True)
    return True


def _copy_user_tables(con) -> None:  # noqa: ANN001
    """Tables a user created in the old file survive the format migration."""
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = "
        "'fakeimg_old' AND table_name <> ? AND NOT temporary", [META_TABLE]
    ).fetchall()
    for schema, table in tables:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        con.execute(
            f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM fakeimg_old."{schema}"."{table}"'
        )


def ensure_views(home: Path, database_path: Path, parquet_dirs: dict[str, Path],
                 *, force: bool = False, attempts: int = 4) -> bool:
    """Make `warehouse.duckdb` serve THIS home's Parquet; False if it is locked (retry later).

    Rebuilt when missing, written in a storage format the DuckDB CLI cannot read (the old
    code's), built for another home (copied or moved), or of an older layout.
    """
    if not force and views_current(home, database_path):
        return True
    home.mkdir(parents=True, exist_ok=True)
    version = storage_version(database_path)
    if version is None or version not in READABLE_STORAGE_VERSIONS:
        if not _rebuild_file(home, database_path, parquet_dirs):
            return False
    else:
        con = _connect_unless_locked(database_path, attempts)
        if con is None:
            return False
        try:
            if force or _recorded(con) != {k: str(v) for k, v in _expected(home, database_path).items()}:
                _create_views(con, home, database_path, parquet_dirs)
        finally:
            con.close()
    stamp = home / STAMP_FILE
    tmp = stamp.with_name(f"{STAMP_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_expected(home, database_path)))
    os.replace(tmp, stamp)
    (home / OLD_STAMP).unlink(missing_ok=True)
    return True
