"""Current Dagster conventions: no deprecated or beta APIs at load, a code version on every
asset, Dagster's standard table metadata wherever an asset writes a warehouse relation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[1]

CODE_VERSION_PENDING: set[str] = set()  # every asset has one

TABLE_OF = {  # asset -> the relation it writes (its main one, where it writes two)
    "real_photos": "real_photos",
    "prompts": "prompts",
    "model_metadata": "model_metadata",
    "sampled_images": "images",
    "image_quality_stats": "image_stats",
    "real_images": "images",
    "shortcut_audit": "shortcut_audit",
    "detector_dataset": "detector_splits",
    "detector": "detector_runs",
    "detector_evaluation": "eval_results",
    "scaling_study": "scaling_results",
}

LOAD = """
import warnings
import dagster as dg
for kind in (DeprecationWarning, dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
    warnings.simplefilter("error", kind)
from fakeimg_assets.definitions import defs
dg.Definitions.validate_loadable(defs)
defs.resolve_asset_graph()
for job in defs.resolve_all_job_defs():
    job.partitions_def
for name in ("new_hub_models",):
    defs.resolve_sensor_def(name)
print("loaded")
"""


def test_definitions_load_with_no_deprecation_or_beta_warnings() -> None:
    """Loading, validating and resolving every job raises on any deprecation or beta,
    preview or superseded-API warning (e.g. `define_asset_job(partitions_def=...)`)."""
    proc = subprocess.run(
        [sys.executable, "-c", LOAD], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0 and "loaded" in proc.stdout, proc.stderr[-3000:]


def test_sample_model_job_takes_its_partitions_from_the_assets() -> None:
    from fakeimg_assets.definitions import defs

    assert defs.resolve_job_def("sample_model").partitions_def.name == "hub_models"


@pytest.fixture(scope="module")
def graph():
    from fakeimg_assets.definitions import defs

    return defs.resolve_asset_graph()


def test_every_asset_has_a_code_version(graph) -> None:
    missing = {
        k.to_user_string() for k in graph.get_all_asset_keys() if not graph.get(k).code_version
    }
    assert missing <= CODE_VERSION_PENDING, f"assets without code_version: {sorted(missing)}"


def test_table_assets_carry_standard_table_metadata(graph) -> None:
    from fakeimg_assets.warehouse.schemas import schema_of

    for asset, relation in TABLE_OF.items():
        meta = graph.get(dg.AssetKey(asset)).metadata
        assert meta.get("dagster/table_name") == f"warehouse.main.{relation}", asset
        schema = meta.get("dagster/column_schema")
        schema = getattr(schema, "schema", schema)  # TableSchemaMetadataValue or TableSchema
        assert isinstance(schema, dg.TableSchema), (asset, schema)
        expected = [(name, str(dtype)) for name, dtype in schema_of(relation).items()]
        assert [(c.name, c.type) for c in schema.columns] == expected, asset


def test_row_count_keys() -> None:
    from fakeimg_assets.warehouse.table_meta import row_count, table_metadata

    assert row_count(5) == {"dagster/row_count": 5}
    assert row_count(2, partitioned=True) == {"dagster/partition_row_count": 2}
    with pytest.raises(ValueError, match="row count must be >= 0"):
        row_count(-1)
    with pytest.raises(KeyError, match="unknown warehouse relation 'nope'"):
        table_metadata("nope")
