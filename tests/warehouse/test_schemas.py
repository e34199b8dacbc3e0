"""The relations' schemas: unknown columns refused, views with every column, contract names."""

from __future__ import annotations

import polars as pl
import pytest

from fakeimg_assets.warehouse.schemas import all_relations, schema_of, to_frame
from fakeimg_assets.warehouse.store import Warehouse


def test_to_frame_rejects_unknown_columns() -> None:
    with pytest.raises(ValueError, match="has no column"):
        to_frame("model_stats", [{"model_id": "a/b", "typo_column": 1}])
    with pytest.raises(KeyError, match="unknown warehouse relation"):
        to_frame("nope", [])


def test_warehouse_partition_replace_and_views(tmp_path) -> None:
    import duckdb

    wh = Warehouse(tmp_path)
    assert wh.query("SELECT count(*) AS n FROM images")["n"][0] == 0
    wh.write("model_stats", "a--b", [{"model_id": "a/b", "n_images": 3, "quarantined": False}])
    wh.write("model_stats", "a--b", [{"model_id": "a/b", "n_images": 4, "quarantined": False}])
    wh.write("model_stats", "c--d", [{"model_id": "c/d", "n_images": 1, "quarantined": True}])
    assert wh.ensure_views()
    con = duckdb.connect(str(wh.database_path), read_only=True)
    rows = con.sql("SELECT model_id, n_images FROM model_stats ORDER BY model_id").fetchall()
    assert rows == [("a/b", 4), ("c/d", 1)]
    for relation in all_relations():  # every view (storage tables, unions) with its columns
        cols = [r[0] for r in con.sql(f"DESCRIBE {relation}").fetchall()]
        assert cols == list(schema_of(relation)), relation
    con.close()
    assert not list((tmp_path / "parquet" / "model_stats").glob(".*.tmp"))
    assert isinstance(wh.read("model_stats"), pl.DataFrame)


CONTRACT_COLUMNS = {
    "hub_models": "model_id, sha, created_at, last_modified, downloads, likes, pipeline_tag, "
    "library_name, license, first_seen_at, last_seen_at",
    "model_metadata": "model_id, revision, pipeline_class, architecture, license, repo_bytes, "
    "downloaded_bytes",
    "images": "image_id, label, source, path, sha256, width, height, format, prompt, seed, steps, "
    "guidance_scale, scheduler, revision",
    "image_stats": "image_id, source",
    "model_stats": "model_id, n_images, black_fraction, duplicate_fraction, quarantined, "
    "quarantine_reason",
    "model_failures": "model_id, asset, stage, error_type, message, transient, failed_at",
    "detector_runs": "run_id, backbone, n_train_models, n_train_images, created_at, checkpoint_path",
    "eval_results": "run_id, split, group_kind, group_value, n_real, n_fake, ap, accuracy, auc",
    "scaling_results": "run_id, n_train_models, n_train_images, ap, accuracy",
}


@pytest.mark.parametrize("relation", sorted(CONTRACT_COLUMNS))
def test_contract_columns_exist(relation: str) -> None:
    wanted = [c.strip() for c in CONTRACT_COLUMNS[relation].split(",")]
    missing = [c for c in wanted if c not in schema_of(relation)]
    assert not missing, f"{relation} lacks contract columns {missing}"
