"""The DuckDB warehouse as a Dagster resource: Parquet per partition, views in one file."""

from __future__ import annotations

import polars as pl
from dagster import ConfigurableResource

from fakeimg_assets.lib.paths import fakeimg_home
from fakeimg_assets.warehouse.store import Warehouse


class WarehouseResource(ConfigurableResource):
    """Where every relation users query lands.

    `home` empty means `$FAKEIMG_HOME` (default `./data`), read when a run starts, so the
    code location never decides paths at import time.
    """

    home: str = ""

    def store(self) -> Warehouse:
        return Warehouse(fakeimg_home(self.home or None))

    def write(self, relation: str, key: str, rows: list[dict] | pl.DataFrame) -> str:
        """Replace one partition file of `relation`; views pick it up with no lock.

        Also refreshes `warehouse.duckdb` if it was built for another home or format; one
        quick try, so a user holding the database never slows a run (a later write retries).
        """
        store = self.store()
        path = store.write(relation, key, rows)
        store.ensure_views(attempts=1)
        return str(path)

    def delete(self, relation: str, key: str) -> bool:
        return self.store().delete(relation, key)

    def read(self, relation: str) -> pl.DataFrame:
        return self.store().read(relation)

    def read_key(self, relation: str, key: str) -> pl.DataFrame:
        return self.store().read_key(relation, key)

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        return self.store().query(sql, params)

    def ensure_views(self) -> bool:
        return self.store().ensure_views()
