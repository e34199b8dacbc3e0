"""Tables and numbers as the UI shows them: rounded for reading, capped with a count."""

from __future__ import annotations

import math

import dagster as dg
import polars as pl
import pytest

from fakeimg_assets.lib.metadata_table import readable, table_entries


def test_readable_keeps_three_decimals_or_three_significant_digits() -> None:
    assert readable(0.987654321) == 0.988
    assert readable(0.000123456) == 0.000123
    assert readable(12.3456789) == 12.346
    assert readable(-0.0456789) == -0.0457
    assert readable(None) is None and readable(0.0) == 0.0
    assert math.isnan(readable(float("nan")))


def test_table_entries_round_type_and_cap() -> None:
    frame = pl.DataFrame({
        "model_id": [f"org/m{i}" for i in range(5)], "n_images": [24, 24, 16, 8, 0],
        "ap": [0.912345, 0.5, None, 0.33333333, 1.0], "quarantined": [True, False] * 2 + [None],
        "families": [["a", "b"], [], None, ["c"], ["d"]],
    })
    out = table_entries("models", frame, max_rows=3)
    table = out["models"]
    assert isinstance(table, dg.TableMetadataValue)
    assert [(c.name, c.type) for c in table.schema.columns] == [
        ("model_id", "string"), ("n_images", "int"), ("ap", "float"), ("quarantined", "bool"),
        ("families", "string")]
    rows = [r.data for r in table.records]
    assert [r["ap"] for r in rows] == [0.912, 0.5, None]
    assert rows[0] == {"model_id": "org/m0", "n_images": 24, "ap": 0.912, "quarantined": True,
                       "families": "a, b"}
    assert isinstance(rows[0]["n_images"], int)
    assert out["models_rows_left_out"].value == 2
    assert "models_rows_left_out" not in table_entries("models", frame)
    assert len(table_entries("t", [{"a": 1.23456}])["t"].records) == 1
    with pytest.raises(ValueError, match="max_rows must be >= 1"):
        table_entries("models", frame, max_rows=0)
