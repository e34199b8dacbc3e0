"""Parquet datasets under `$FAKEIMG_HOME/parquet`, exposed as views in `warehouse.duckdb`.

DuckDB allows one writer process, so partitions never write the database: each writes
its own Parquet file (temp name, then rename: a killed write leaves the previous file
intact) and the views read them (`warehouse.sources`: an escaped glob of the folder, or
the list of its readable files when one is damaged). fakeimg's own reads go through an
in-memory DuckDB over this home's files, so they never need the database lock.
A zero-row `_schema.parquet` in each folder keeps every view valid before any data lands.

Every read skips a damaged Parquet file with a `DamagedParquetWarning` naming it and the
fix (`fakeimg verify --repair`); paths are always taken literally, whatever characters
the home's path holds (DuckDB and polars would glob `[`, `*`, `?`).

Each storage table (a folder) is written by one asset; `images`, `image_stats` and
`detector_runs` are union views over several (`schemas.UNION_VIEWS`): reads of those
names concatenate the parts, writes must name the part. Homes of the older layout, where
those were shared folders, are split on first use (`warehouse.migrate`).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from fakeimg_assets.integrity.parquet_health import (
    decode_damage,
    footer_damage,
    mark_damaged,
    one_line,
    read_parquet_file,
    warn_damaged,
)
from fakeimg_assets.lib.leftovers import remove_stale_temp_files, writer_id
from fakeimg_assets.warehouse import views
from fakeimg_assets.warehouse.compaction import CompactionResult, compact_home
from fakeimg_assets.warehouse.migrate import migrate_legacy_layout, needs_migration
from fakeimg_assets.warehouse.schemas import (
    RELATIONS,
    UNION_VIEWS,
    all_relations,
    parts_of,
    schema_of,
    to_frame,
)
from fakeimg_assets.warehouse.sources import (
    COMPACTED_DIR,
    PARTITION_COLUMN,
    RelationFiles,
    compacted_path,
    parquet_names,
    scan,
    union_sql,
)

SCHEMA_FILE = "_schema.parquet"
SHARED_STATEMENTS = ("SELECT", "EXPLAIN")  # `Warehouse.query` runs these on the shared database

# this process's in-memory DuckDB: opening one costs about 13 ms, a cursor on it 0.005 ms
_SHARED_DATABASE: dict[str, object] = {}
_SHARED_LOCK = threading.Lock()
# it lives as long as the process: no cache of file blocks, which would grow with every file
# read (a fresh database per query, as before, freed its cache when closed)
SHARED_CONFIG = {"enable_external_file_cache": False}


def shared_cursor():  # -> DuckDBPyConnection
    """A connection of its own (temp catalog, settings) to this process's in-memory DuckDB."""
    import duckdb

    with _SHARED_LOCK:
        if "db" not in _SHARED_DATABASE:
            _SHARED_DATABASE["db"] = duckdb.connect(":memory:", config=SHARED_CONFIG)
        return _SHARED_DATABASE["db"].cursor()  # type: ignore[attr-defined]


def parsed_table_names(sql: str) -> set[str] | None:
    """The tables a SELECT's parse tree names (DuckDB's `json_serialize_sql`: parsed, never
    bound; CTE names included); None for another statement or a parse error."""
    import json

    import duckdb

    cursor = shared_cursor()
    try:
        tree = json.loads(cursor.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    except duckdb.Error:
        return None
    finally:
        cursor.close()
    if tree.get("error", True):
        return None
    names: set[str] = set()
    stack: list[object] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and isinstance(node.get("table_name"), str):
                names.add(node["table_name"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


def reads_only(sql: str) -> bool:
    """Every statement of `sql` is a SELECT (or its EXPLAIN): it creates and sets nothing,
    so it may run on the shared database. False when DuckDB cannot parse it."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error:
        return False
    return bool(statements) and all(st.type.name in SHARED_STATEMENTS for st in statements)


class Warehouse:
    """The storage behind the warehouse resource: folders of Parquet plus a view database."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.parquet_root = self.home / "parquet"
        self.database_path = self.home / "warehouse.duckdb"
        self._layout_checked = False

    # -- files ---------------------------------------------------------------------------
    def migrate(self) -> list[Path]:
        """Split an older home's shared folders into their storage tables (once per object;
        a few `is_dir` calls when there is nothing to do). Returns the files moved."""
        if self._layout_checked:
            return []
        moved = migrate_legacy_layout(self.parquet_root, SCHEMA_FILE) if needs_migration(
            self.parquet_root) else []
        self._layout_checked = True
        return moved

    def dataset_dir(self, relation: str) -> Path:
        """The folder of a storage table; a union view has none (write one of its parts)."""
        schema_of(relation)
        if relation in UNION_VIEWS:
            raise ValueError(
                f"{relation!r} is a view over the storage tables "
                f"{', '.join(UNION_VIEWS[relation])}, each owned by one asset: write to "
                "(or delete from) one of those instead"
            )
        return self.parquet_root / relation

    def partition_path(self, relation: str, key: str) -> Path:
        if not key or "/" in key or key.startswith(("_", ".")):
            raise ValueError(f"invalid partition file key {key!r} for relation {relation!r}")
        return self.dataset_dir(relation) / f"{key}.parquet"

    def write(self, relation: str, key: str, rows: list[dict] | pl.DataFrame) -> Path:
        """Replace the file `key` of `relation` with `rows`, atomically (temp, fsync, rename).

        Temp files of this key left by killed writers are removed first.
        """
        frame = to_frame(relation, rows)
        path = self.partition_path(relation, key)
        self.migrate()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._ensure_schema_file(relation)
        remove_stale_temp_files(path.parent, f".{path.stem}.")
        tmp = path.with_name(f".{path.stem}.{writer_id()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            frame.write_parquet(tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path

    def delete(self, relation: str, key: str) -> bool:
        """Remove the rows of `key`; True when it had a file or compacted rows. A compacted
        folder gets a zero-row file instead (a tombstone: it shadows the key's compacted
        rows until the next compaction drops them, `warehouse.compaction`)."""
        path = self.partition_path(relation, key)
        self.migrate()
        if (path.parent / COMPACTED_DIR).is_dir():
            had = path.exists() or not self._compacted_rows(relation, key).is_empty()
            if had:
                self.write(relation, key, pl.DataFrame(schema=schema_of(relation)))
            return had
        if path.exists():
            path.unlink()
            return True
        return False

    def has_key(self, relation: str, key: str) -> bool:
        """Whether storage table `relation` holds rows (or a file) for `key`."""
        path = self.partition_path(relation, key)
        if path.exists():
            return True
        return not self._compacted_rows(relation, key).is_empty()

    def read(self, relation: str) -> pl.DataFrame:
        """All rows of a relation (a union view: of its parts), straight from its Parquet
        files (no database lock): the loose files, plus the compacted rows of keys without
        one; a damaged file is skipped with a warning."""
        frames = []
        for part in parts_of(relation):
            files = self._data_files(part)
            frames.append(self._concat(part, files))
            frames.append(self._compacted_rows(part, exclude={f.stem for f in files}))
        return to_frame(relation, pl.concat(frames, how="diagonal_relaxed"))

    def read_key(self, relation: str, key: str) -> pl.DataFrame:
        """The rows of one key (a union view: that key's rows in each part, concatenated):
        its file, else its compacted rows; a damaged file is skipped with a warning
        (`integrity.quarantine.unproven_rows` tells a writer that must not take its absence
        for an empty partition)."""
        self.migrate()
        frames = []
        for part in parts_of(relation):
            path = self.partition_path(part, key)
            if path.exists():
                frames.append(self._concat(part, [path]))
            else:
                frames.append(self._compacted_rows(part, key))
        return to_frame(relation, pl.concat(frames, how="diagonal_relaxed"))

    def _compacted_rows(self, relation: str, key: str | None = None,
                        exclude: set[str] | None = None) -> pl.DataFrame:
        """Compacted rows of storage table `relation`: of `key` alone, or of every key not in
        `exclude` (keys whose loose file shadows them). Empty when it was never compacted;
        a damaged compacted file is skipped with a warning."""
        path = compacted_path(self.dataset_dir(relation))
        empty = pl.DataFrame(schema=schema_of(relation))
        if not path.is_file():
            return empty
        try:
            frame = pl.scan_parquet(path, glob=False)  # the path taken literally
            if key is not None:
                frame = frame.filter(pl.col(PARTITION_COLUMN) == key)
            elif exclude:
                frame = frame.filter(~pl.col(PARTITION_COLUMN).is_in(sorted(exclude)))
            rows = frame.drop(PARTITION_COLUMN).collect()
        except FileNotFoundError:
            return empty
        except Exception as exc:  # noqa: BLE001 - a damaged file is skipped, named
            warn_damaged(path, one_line(exc), self.home)
            return empty
        return to_frame(relation, rows)

    def _concat(self, relation: str, files: list[Path]) -> pl.DataFrame:
        frames = []
        for f in files:
            try:
                frames.append(read_parquet_file(f))
            except FileNotFoundError:
                continue  # not written yet, or removed meanwhile
            except Exception as exc:  # noqa: BLE001 - a damaged file is skipped, named
                warn_damaged(f, one_line(exc), self.home)
        if not frames:
            return pl.DataFrame(schema=schema_of(relation))
        return to_frame(relation, pl.concat(frames, how="diagonal_relaxed"))

    def _data_files(self, relation: str) -> list[Path]:
        self.migrate()
        folder = self.dataset_dir(relation)
        return [folder / n for n in parquet_names(folder) if not n.startswith("_")]

    def _ensure_schema_file(self, relation: str) -> None:
        """Write the folder's zero-row schema file when missing, damaged (it holds no rows:
        rewriting it loses nothing) or of an older schema (a column was added: old homes
        then still bind every column)."""
        path = self.dataset_dir(relation) / SCHEMA_FILE
        try:
            if footer_damage(path) is None:
                with open(path, "rb") as f:  # a file object: polars globs a path
                    if pl.read_parquet_schema(f) == schema_of(relation):
                        return
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{writer_id()}.{uuid.uuid4().hex[:8]}.tmp")
        pl.DataFrame(schema=schema_of(relation)).write_parquet(tmp)
        os.replace(tmp, path)

    # -- SQL -----------------------------------------------------------------------------
    def sources(self, relations: Iterable[str] | None = None) -> dict[str, RelationFiles]:
        """Every storage table's files (or those behind `relations`), readable and damaged
        (footer check, cached); warns once per damaged file."""
        self.migrate()
        wanted = RELATIONS if relations is None else dict.fromkeys(
            part for name in relations for part in parts_of(name))
        out = {}
        for relation in wanted:
            self._ensure_schema_file(relation)
            out[relation] = files = scan(self.dataset_dir(relation))
            for path, detail in files.damaged:
                warn_damaged(path, detail, self.home)
        return out

    def view_sql(self, relation: str, sources: dict[str, RelationFiles] | None = None, *,
                 temporary: bool = False) -> str:
        """`CREATE VIEW relation` over this home's files, unguarded (an in-memory
        connection's view; `warehouse.duckdb` guards its own); a TEMP view is seen by its
        own connection alone."""
        sources = self.sources([relation]) if sources is None else sources
        cols = ", ".join(f'"{c}"' for c in schema_of(relation))
        kind = "TEMP VIEW" if temporary else "VIEW"
        return (f'CREATE OR REPLACE {kind} "{relation}" AS SELECT {cols} FROM '
                f"{union_sql([sources[p] for p in parts_of(relation)])}")

    def ensure_views(self, *, force: bool = False, attempts: int = 4) -> bool:
        """Make `warehouse.duckdb` serve this home's Parquet (see `warehouse.views`).

        Cheap when nothing changed (a stamp file says so; each file's footer is checked
        once per process). Returns False, touching nothing, when another process holds
        the database: the next write or command retries.
        """
        return views.ensure_views(
            self.home, self.database_path, self.sources(), force=force, attempts=attempts
        )

    def compact(self, relations: list[str] | None = None, *,
                attempts: int = 4) -> tuple[list[CompactionResult], bool]:
        """Fold the per-partition files of every storage table (or `relations`) into their
        compacted files (`warehouse.compaction`), then refresh the views; returns each
        table's result and whether the views were refreshed (False: another process held
        `warehouse.duckdb`; the next command refreshes them)."""
        results = compact_home(self.home, relations)
        return results, self.ensure_views(attempts=attempts)

    def connect_memory(self, relations: Iterable[str] | None = None, *,
                       private: bool = True):  # -> DuckDBPyConnection
        """An in-memory DuckDB with views over THIS home's readable files (every relation, or
        `relations`): no lock, never stale; a damaged file is left out with a warning.

        `private`: a database of its own, which the caller may change at will. Else a cursor
        on this process's shared in-memory database (`shared_cursor`, 13 ms cheaper), whose
        views are TEMP, its own: anything else it creates outlives it, so only read there.
        """
        import duckdb

        names = all_relations() if relations is None else list(relations)
        sources = self.sources(names)
        con = duckdb.connect(":memory:") if private else shared_cursor()
        for relation in names:
            con.execute(self.view_sql(relation, sources, temporary=not private))
        return con

    @staticmethod
    def relations_in(sql: str) -> list[str] | None:
        """The relations `sql` names (DuckDB's parser), None when it cannot tell (then every
        view is made, and DuckDB reports what is wrong with the query itself)."""
        import duckdb

        try:
            names = duckdb.get_table_names(sql, qualified=False)
        except duckdb.Error:  # it binds a `JOIN ... USING`, and fails there with no tables
            names = parsed_table_names(sql)
            if names is None:
                return None
        known = {n.lower(): n for n in all_relations()}  # identifiers ignore case
        return sorted({known[n.lower()] for n in names if n.lower() in known})

    def skip_undecodable_files(self, exc: BaseException) -> bool:
        """After a DuckDB error reading the relations: find the files whose pages do not
        decode behind a sound footer (each decoded once per process), mark them damaged so
        the next views leave them out, and return True (run the query again); False when
        no file is to blame (the error stands)."""
        import duckdb

        if isinstance(exc, (duckdb.ParserException, duckdb.BinderException,
                            duckdb.CatalogException)):
            return False  # the SQL, not a file
        marked = False
        for relation in RELATIONS:
            for path in scan(self.dataset_dir(relation)).readable:
                try:
                    detail = decode_damage(path)
                    if detail is not None:
                        mark_damaged(path, detail)
                        marked = True
                except FileNotFoundError:
                    continue
        return marked

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        """Run SQL over the relations without touching `warehouse.duckdb`; a file that
        fails to decode is left out (with a warning) and the query run again."""
        import duckdb

        relations = self.relations_in(sql)  # views for those alone: each costs a scan's bind
        private = not reads_only(sql)  # a CREATE or SET gets a database of its own, discarded
        while True:
            con = self.connect_memory(relations, private=private)
            try:
                rel = con.sql(sql, params=params) if params else con.sql(sql)
                if rel is None:
                    return pl.DataFrame()
                return pl.from_arrow(rel.to_arrow_table())
            except duckdb.Error as exc:
                if not self.skip_undecodable_files(exc):
                    raise
            finally:
                con.close()
