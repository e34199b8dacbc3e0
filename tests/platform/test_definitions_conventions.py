"""Current Dagster conventions: no deprecated or beta APIs at load, a code version on every
asset, Dagster's standard table metadata wherever an asset writes a warehouse relation, and
every storage table owned by exactly one asset."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict

import dagster as dg
import pytest

from tests.helpers.repo import ROOT

CODE_VERSION_PENDING: set[str] = set()  # every asset has one

TABLE_OF = {  # asset -> the storage table it owns (one asset per table, one table per asset)
    "hub_catalog": "hub_models",
    "crawl_rejects": "crawl_rejects",  # a second spec of the hub_catalog step
    "hub_census": "hub_census",
    "real_photos": "real_photos",
    "prompts": "prompts",
    "model_metadata": "model_metadata",
    "sampled_images": "fake_images",
    "image_quality_stats": "fake_image_stats",
    "model_stats": "model_stats",  # a second spec of the image_quality_stats step
    "real_images": "real_images",
    "real_image_stats": "real_image_stats",  # real_images step
    "shortcut_audit": "shortcut_audit",
    "detector_dataset": "detector_splits",
    "split_versions": "split_versions",  # detector_dataset step
    "detector": "trained_detectors",
    "detector_evaluation": "detector_eval_results",
    "protocol_detectors": "protocol_detectors",  # detector_evaluation step
    "scaling_study": "scaling_results",
    "scaling_detectors": "scaling_detectors",  # scaling_study step
    "diversity_study": "diversity_results",
    "diversity_detectors": "diversity_detectors",  # diversity_study step
    "cross_dataset": "cross_dataset_results",
    "cross_dataset_detectors": "cross_dataset_detectors",  # cross_dataset step
    "image_collections": "collections",
    "collection_rejects": "collection_rejects",  # image_collections step
    "collection_reals": "collection_real_images",
    "collection_real_image_stats": "collection_real_image_stats",  # collection_reals step
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


def _owners(graph) -> dict[str, list[str]]:  # noqa: ANN001
    """Storage table -> the assets whose definition metadata names it (`dagster/table_name`)."""
    owners: dict[str, list[str]] = defaultdict(list)
    for key in graph.get_all_asset_keys():
        name = graph.get(key).metadata.get("dagster/table_name")
        if name is not None:
            name = getattr(name, "value", name)  # TableMetadataValue or plain string
            owners[str(name).removeprefix("warehouse.main.")].append(key.to_user_string())
    return owners


def test_every_storage_table_is_owned_by_exactly_one_asset(graph) -> None:
    """No table claimed twice; every storage table claimed (model_failures excepted: a
    failure log any failing stage appends to); no asset claims a union view."""
    from fakeimg_assets.warehouse.schemas import RELATIONS, SHARED_WRITERS, UNION_VIEWS

    owners = _owners(graph)
    claimed_twice = {t: sorted(a) for t, a in owners.items() if len(a) > 1}
    assert not claimed_twice, f"tables claimed by several assets: {claimed_twice}"
    assert not set(owners) & set(UNION_VIEWS), "a union view is no asset's table"
    assert not set(owners) - set(RELATIONS), f"unknown tables: {set(owners) - set(RELATIONS)}"
    unowned = set(RELATIONS) - SHARED_WRITERS - set(owners)
    assert not unowned, f"storage tables no asset owns: {sorted(unowned)}"
    assert not SHARED_WRITERS & set(owners), "a shared log is no single asset's table"
    assert {t: a[0] for t, a in owners.items()} == {t: a for a, t in TABLE_OF.items()}


def test_union_views_are_no_assets_table() -> None:
    from fakeimg_assets.warehouse.table_meta import table_metadata

    with pytest.raises(ValueError, match="fake_images, real_images"):
        table_metadata("images")


def test_selecting_one_asset_of_a_step_selects_its_siblings(graph) -> None:
    """Every job and the retrain sensor's selections hold whole multi-assets (a step that
    writes two tables cannot run half), so selections by key still resolve."""
    from fakeimg_assets.definitions import defs
    from sensors.retrain import retrain_assets

    for job in defs.resolve_all_job_defs():
        keys = set(job.asset_layer.executable_asset_keys)
        for key in keys:
            assert graph.get(key).execution_set_asset_keys <= keys, (job.name, key)
    job = defs.resolve_job_def("train_detector")
    for include_scaling in (False, True):
        job.get_subset(asset_selection=set(retrain_assets(include_scaling)))


def test_every_sensor_schedule_check_asset_and_job_is_described() -> None:
    """The UI shows "No description provided" otherwise; built with a retrain cron so the
    optional schedule is checked too."""
    from fakeimg_assets.definitions import build_definitions

    defs = build_definitions(home="/nonexistent-home-unused", retrain_cron="0 3 * * *")
    graph = defs.resolve_asset_graph()
    missing = [f"sensor {s.name}" for s in defs.sensors if not (s.description or "").strip()]
    missing += [f"schedule {s.name}" for s in defs.schedules
                if not (s.description or "").strip()]  # fmt: skip
    missing += [f"check {k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys
                if not (graph.get_check_spec(k).description or "").strip()]  # fmt: skip
    missing += [f"asset {k.to_user_string()}" for k in graph.get_all_asset_keys()
                if not (graph.get(k).description or "").strip()]  # fmt: skip
    missing += [f"job {j.name}" for j in defs.resolve_all_job_defs()
                if not j.name.startswith("__") and not (j.description or "").strip()]
    assert len(graph.asset_check_keys) >= 3 and len(list(defs.sensors)) >= 4
    assert not missing, f"without a description: {missing}"
