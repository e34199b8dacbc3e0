"""Parquet datasets under `$FAKEIMG_HOME/parquet`, exposed as views in `warehouse.duckdb`.

DuckDB allows one writer process, so partitions never write the database: each writes
its own Parquet file (temp name, then rename: a killed write leaves the previous file
intact) and the views, created once per home, glob them. fakeimg's own reads go through
an in-memory DuckDB over this home's files, so they never need the database lock.
A zero-row `_schema.parquet` in each folder keeps every view valid before any data lands.

Each storage table (a folder) is written by one asset; `images`, `image_stats` and
`detector_runs` are union views over several (`schemas.UNION_VIEWS`): reads of those
names concatenate the parts, writes must name the part. Homes of the older layout, where
those were shared folders, are split on first use (`warehouse.migrate`).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import polars as pl

from fakeimg_assets.integrity.leftovers import remove_stale_temp_files
from fakeimg_assets.warehouse import views
from fakeimg_assets.warehouse.migrate import migrate_legacy_layout, needs_migration
from fakeimg_assets.warehouse.schemas import (
    RELATIONS,
    UNION_VIEWS,
    parts_of,
    schema_of,
    to_frame,
)

SCHEMA_FILE = "_schema.parquet"


def utcnow() -> dt.datetime:
    """Timezone-aware now, microsecond precision as stored."""
    return dt.datetime.now(dt.UTC)


def parse_time(value: object) -> dt.datetime | None:
    """Hub timestamps (ISO strings or datetimes) as aware UTC datetimes."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    text = str(value).replace("Z", "+00:00")
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


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
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
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
        path = self.partition_path(relation, key)
        self.migrate()
        if path.exists():
            path.unlink()
            return True
        return False

    def read(self, relation: str) -> pl.DataFrame:
        """All rows of a relation (a union view: of its parts), straight from its Parquet
        files (no database lock)."""
        files = [f for part in parts_of(relation) for f in self._data_files(part)]
        if not files:
            return pl.DataFrame(schema=schema_of(relation))
        frames = [pl.read_parquet(f) for f in files]
        return to_frame(relation, pl.concat(frames, how="diagonal_relaxed"))

    def read_key(self, relation: str, key: str) -> pl.DataFrame:
        """The rows of one key (a union view: that key's file in each part, concatenated)."""
        self.migrate()
        paths = [self.partition_path(part, key) for part in parts_of(relation)]
        frames = [pl.read_parquet(p) for p in paths if p.exists()]
        if not frames:
            return pl.DataFrame(schema=schema_of(relation))
        return to_frame(relation, pl.concat(frames, how="diagonal_relaxed"))

    def _data_files(self, relation: str) -> list[Path]:
        self.migrate()
        folder = self.dataset_dir(relation)
        if not folder.exists():
            return []
        return sorted(
            p for p in folder.glob("*.parquet") if not p.name.startswith(("_", "."))
        )

    def _ensure_schema_file(self, relation: str) -> None:
        path = self.dataset_dir(relation) / SCHEMA_FILE
        if path.exists() and pl.read_parquet_schema(path) == schema_of(relation):
            return  # rewritten when a column was added, so old homes still bind every column
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        pl.DataFrame(schema=schema_of(relation)).write_parquet(tmp)
        os.replace(tmp, path)

    # -- SQL -----------------------------------------------------------------------------
    def _view_sql(self, relation: str) -> str:
        if relation in UNION_VIEWS:
            return views.union_view_sql(relation)
        glob = (self.dataset_dir(relation) / "*.parquet").as_posix().replace("'", "''")
        cols = ", ".join(f'"{c}"' for c in schema_of(relation))
        return (
            f'CREATE OR REPLACE VIEW "{relation}" AS SELECT {cols} FROM '
            f"read_parquet('{glob}', union_by_name = true)"
        )

    def ensure_views(self, *, force: bool = False, attempts: int = 4) -> bool:
        """Make `warehouse.duckdb` serve this home's Parquet (see `warehouse.views`).

        Cheap when nothing changed (a stamp file says so). Returns False, touching nothing,
        when another process holds the database: the next write or command retries.
        """
        self.migrate()
        for relation in RELATIONS:
            self._ensure_schema_file(relation)
        dirs = {relation: self.dataset_dir(relation) for relation in RELATIONS}
        return views.ensure_views(
            self.home, self.database_path, dirs, force=force, attempts=attempts
        )

    def connect_memory(self):  # -> duckdb.DuckDBPyConnection
        """An in-memory DuckDB with views over THIS home's files: no lock, never stale."""
        import duckdb

        self.migrate()
        con = duckdb.connect(":memory:")
        for relation in RELATIONS:
            self._ensure_schema_file(relation)
            con.execute(self._view_sql(relation))
        for relation in UNION_VIEWS:  # after their parts
            con.execute(self._view_sql(relation))
        return con

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        """Run SQL over the relations without touching `warehouse.duckdb`."""
        con = self.connect_memory()
        try:
            rel = con.sql(sql, params=params) if params else con.sql(sql)
            if rel is None:
                return pl.DataFrame()
            return pl.from_arrow(rel.to_arrow_table())
        finally:
            con.close()
