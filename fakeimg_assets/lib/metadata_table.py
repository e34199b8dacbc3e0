"""Tables and numbers as the Dagster UI shows them: a polars frame (or rows) as table
metadata (`dg.MetadataValue.table`, which the UI always renders in place, unlike long
markdown), with floats rounded for reading and long tables capped, saying how many rows
were left out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import polars as pl

DECIMALS = 3  # AP, AUC, fractions: three decimals; smaller numbers keep 3 significant digits
MAX_ROWS = 100


def readable(value: float | None) -> float | None:
    """A float rounded for reading: 3 decimals, or 3 significant digits when that keeps
    more (0.000123 stays 0.000123); None, NaN and inf pass through."""
    if value is None or not math.isfinite(value) or value == 0:
        return value
    digits = max(DECIMALS, 2 - math.floor(math.log10(abs(value))))
    return round(float(value), digits)


def _cell(value: Any) -> str | int | float | bool | None:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return readable(value)
    if isinstance(value, Sequence | Mapping | set):
        return ", ".join(map(str, value)) if not isinstance(value, Mapping) else str(dict(value))
    return str(value)


def _type(dtype: pl.DataType) -> str:
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    return "string"


def table_entries(key: str, rows: pl.DataFrame | Sequence[Mapping[str, Any]], *,
                  max_rows: int = MAX_ROWS) -> dict[str, dg.MetadataValue]:  # fmt: skip
    """`{key: table}` with at most `max_rows` rows (the first ones: order the frame first),
    plus `{key}_rows_left_out` when some were cut. Floats are rounded for reading."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(
        list(rows), infer_schema_length=None)
    shown = frame.head(max_rows)
    schema = dg.TableSchema(columns=[dg.TableColumn(name, _type(dtype))
                                     for name, dtype in frame.schema.items()])  # fmt: skip
    records = [dg.TableRecord({k: _cell(v) for k, v in r.items()})
               for r in shown.iter_rows(named=True)]  # fmt: skip
    out: dict[str, dg.MetadataValue] = {key: dg.MetadataValue.table(records, schema)}
    if frame.height > shown.height:
        out[f"{key}_rows_left_out"] = dg.MetadataValue.int(frame.height - shown.height)
    return out
