"""Layer 2: assets materialized on `instance_for_test` against the loopback Hub."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from fakeimg_assets.catalog.assets import hub_catalog
from fakeimg_assets.lib.paths import model_slug, sha256_file
from fakeimg_assets.models.assets import image_quality_stats, model_metadata, sampled_images
from fakeimg_assets.models.refusals import latest_metadata
from fakeimg_assets.warehouse.store import Warehouse
from tests.helpers.partitions import SMALL_SAMPLING, prepare_partition, run_partition
from tests.helpers.zoo import pick


def test_hub_catalog_crawls_every_zoo_model(resources: dict, home: Path, zoo_catalog) -> None:
    with dg.instance_for_test() as instance:
        assert dg.materialize([hub_catalog], resources=resources, instance=instance).success
        again = dg.materialize([hub_catalog], resources=resources, instance=instance)
        assert again.success
    wh = Warehouse(home)
    rows = wh.read("hub_models")
    assert sorted(rows["model_id"]) == sorted(m.model_id for m in zoo_catalog)
    assert rows["sha"].str.len_chars().min() == 40
    assert (rows["first_seen_at"] <= rows["last_seen_at"]).all()
    assert rows["license"].null_count() == 0
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM hub_models").fetchall()[0][0] == len(zoo_catalog)


@pytest.mark.slow
def test_per_model_assets_for_one_model(resources: dict, home: Path, zoo_catalog) -> None:
    model = pick(zoo_catalog, expect="ok", architecture="sd1")
    with dg.instance_for_test() as instance:
        prepare_partition(instance, resources, model.model_id)

        meta = run_partition(model_metadata, instance, resources, model.model_id)
        assert meta.success
        row = Warehouse(home).read_key("model_metadata", model_slug(model.model_id)).row(0, named=True)
        assert row["pipeline_class"] == "StableDiffusionPipeline"
        assert row["architecture"] == "sd1" and len(row["revision"]) == 40
        assert 0 < row["downloaded_bytes"] < row["repo_bytes"]  # fp16/.bin/.ckpt skipped

        sampled = run_partition(sampled_images, instance, resources, model.model_id,
                                run_config=SMALL_SAMPLING)
        assert sampled.success
        images = Warehouse(home).read_key("images", f"fake--{model_slug(model.model_id)}")
        assert images.height == 3
        for r in images.iter_rows(named=True):
            path = home / r["path"]
            assert path.exists() and sha256_file(path) == r["sha256"]
            assert r["revision"] == row["revision"] and r["steps"] == 2 and r["format"] == "PNG"
        # only the planned files were downloaded: no pickle, no fp16 variant, no .ckpt
        cached = [p.name for p in (home / "hf-cache").rglob("*") if p.is_file()]
        assert not [n for n in cached if n.endswith((".bin", ".ckpt")) or ".fp16." in n]

        stats = run_partition(image_quality_stats, instance, resources, model.model_id)
        assert stats.success
        checks = stats.get_asset_check_evaluations()
        assert len(checks) == 1 and checks[0].passed
        ms = Warehouse(home).read_key("model_stats", model_slug(model.model_id)).row(0, named=True)
        assert ms["n_images"] == 3 and not ms["quarantined"]

        # re-running a partition (forced: the same request is otherwise 'unchanged')
        # replaces its rows instead of appending
        forced = {"ops": {"sampled_images": {"config": {
            **SMALL_SAMPLING["ops"]["sampled_images"]["config"], "force": True}}}}
        assert run_partition(sampled_images, instance, resources, model.model_id,
                             run_config=forced).success
        assert Warehouse(home).query("SELECT count(*) n FROM images WHERE label='fake'")["n"][0] == 3


@pytest.mark.slow
def test_degenerate_model_is_quarantined(resources: dict, home: Path, zoo_catalog) -> None:
    model = pick(zoo_catalog, expect="quarantine")
    with dg.instance_for_test() as instance:
        prepare_partition(instance, resources, model.model_id)
        for asset, kw in (
            (model_metadata, {}),
            (sampled_images, {"run_config": SMALL_SAMPLING}),
            (image_quality_stats, {}),
        ):
            assert run_partition(asset, instance, resources, model.model_id, **kw).success
        result = run_partition(image_quality_stats, instance, resources, model.model_id)
        check = result.get_asset_check_evaluations()[0]
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    ms = Warehouse(home).read_key("model_stats", model_slug(model.model_id)).row(0, named=True)
    assert ms["quarantined"] and "black" in ms["quarantine_reason"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["remote code", "pickle", "corrupt", "no model_index.json"])
def test_broken_models_are_refused_with_a_failure_row(
    resources: dict, home: Path, zoo_catalog, kind: str
) -> None:
    broken = [m for m in zoo_catalog if m.expect == "failure"]
    model = next(
        (m for m in broken if kind in m.model_id or kind in (m.reason or "").lower()), None
    )
    if model is None:
        pytest.fail(f"zoo has no {kind} failure repo: {[m.model_id for m in broken]}")
    with dg.instance_for_test() as instance:
        prepare_partition(instance, resources, model.model_id)
        # each is refused by design: materialized as refused, never a failed run
        assert run_partition(model_metadata, instance, resources, model.model_id).success
        assert run_partition(sampled_images, instance, resources, model.model_id,
                             run_config=SMALL_SAMPLING).success
        meta = latest_metadata(instance, "sampled_images", model.model_id)
        assert meta["outcome"] == "refused" and meta["refused_reason"], meta
    failures = Warehouse(home).read("model_failures")
    assert failures.height == 1  # the attempt that refused it; a follower writes none
    row = failures.row(0, named=True)
    assert row["model_id"] == model.model_id and row["stage"] and row["message"]
    assert row["error_type"] and row["refused"] is True
    assert f"'{row['stage']}': {row['error_type']}: " in meta["refused_reason"]
    # nothing half-written: no image rows for the broken model
    assert Warehouse(home).read_key("images", f"fake--{model_slug(model.model_id)}").height == 0
