"""Dagster's standard table metadata for assets that write a warehouse relation.

The UI shows `dagster/table_name` and `dagster/column_schema` on the asset's page before it
is ever materialized (definition metadata), and plots `dagster/row_count` (unpartitioned
assets: rows the asset holds in the relation) or `dagster/partition_row_count` (one
partition's rows) across materializations. The column schema comes from
`warehouse/schemas.py`, the same table every Parquet write is cast to, so the two never drift.
"""

from __future__ import annotations

import dagster as dg

from fakeimg_assets.warehouse.schemas import UNION_VIEWS, schema_of

DATABASE = "warehouse"  # `warehouse.duckdb` attaches under this catalog name in DuckDB


def table_schema(relation: str) -> dg.TableSchema:
    """The relation's columns and types (polars type names), from `schemas.py`."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype)) for name, dtype in schema_of(relation).items()]
    )


def table_metadata(relation: str) -> dict[str, object]:
    """Definition metadata of the one asset that writes `relation`: table name, schema,
    storage. A union view is no asset's table (its parts are), so it is refused."""
    if relation in UNION_VIEWS:
        raise ValueError(
            f"{relation!r} is a view over {', '.join(UNION_VIEWS[relation])}: an asset owns "
            "one of those storage tables, never the view"
        )
    return {
        "dagster/table_name": f"{DATABASE}.main.{relation}",
        "dagster/column_schema": table_schema(relation),
        "dagster/storage_kind": "duckdb",
    }


def row_count(n: int, *, partitioned: bool = False) -> dict[str, int]:
    """Materialization metadata: `dagster/partition_row_count` for a partition's rows, else
    `dagster/row_count` (a partition never scans the whole relation to count it)."""
    if n < 0:
        raise ValueError(f"row count must be >= 0, got {n}")
    key = "dagster/partition_row_count" if partitioned else "dagster/row_count"
    return {key: int(n)}
