"""Refusals are outcomes: a repo the platform declines by design materializes as 'refused'
(`outcome`, `refused_reason`) with its `model_failures` row; a run that broke still fails.

Real per-model assets on `instance_for_test` against the loopback Hub serving the tiny zoo.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from fakeimg_assets.definitions import build_definitions
from fakeimg_assets.lib.paths import model_slug
from fakeimg_assets.models.assets import image_quality_stats, model_metadata, sampled_images
from fakeimg_assets.models.refusals import latest_metadata
from fakeimg_assets.run_plan import plan_partitions, summarize
from fakeimg_assets.warehouse.store import Warehouse
from tests.helpers.partitions import SMALL_SAMPLING, prepare_partition

PER_MODEL = [model_metadata, sampled_images, image_quality_stats]
KEYS = ("model_metadata", "sampled_images", "image_quality_stats", "model_stats")
HOSTILE = "shadyhub/turbo-everything"  # remote code: refused by model_metadata (plan)
BROKEN_UPLOAD = "bitrot-labs/pixart-broken-upload"  # truncated weights: refused at load


def _sample(instance: dg.DagsterInstance, resources: dict, model_id: str,
            assets: list = PER_MODEL) -> dg.ExecuteInProcessResult:  # fmt: skip
    return dg.materialize(assets, partition_key=model_id, resources=resources,
                          instance=instance, raise_on_error=False, run_config=SMALL_SAMPLING)


def _status(instance: dg.DagsterInstance, model_id: str) -> dict[str, object]:
    from fakeimg_assets.partitions import hub_models_partitions

    return {k: (instance.get_status_by_partition(dg.AssetKey(k), [model_id],
                                                 hub_models_partitions) or {}).get(model_id)
            for k in KEYS}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("model_id", "asset", "stage", "error"), [
    (HOSTILE, "model_metadata", "plan", "UnsafeRepoError"),
    (BROKEN_UPLOAD, "sampled_images", "load", "IncompleteWeightsError"),
])
def test_a_refused_repo_materializes_as_refused_with_its_reason(
    resources: dict, home: Path, model_id: str, asset: str, stage: str, error: str,
) -> None:
    with dg.instance_for_test() as instance:
        prepare_partition(instance, resources, model_id)
        auto = build_definitions(home=str(home))
        ticks = [dg.evaluate_automation_conditions(defs=auto, instance=instance)]
        result = _sample(instance, resources, model_id)
        assert result.success  # a verdict, not a crash
        assert set(_status(instance, model_id).values()) == {
            dg.AssetPartitionStatus.MATERIALIZED}
        meta = latest_metadata(instance, "sampled_images", model_id)
        assert meta["outcome"] == "refused", meta
        reason = meta["refused_reason"]
        assert reason.startswith(f"{asset} refused at stage '{stage}': {error}: "), reason
        assert "\n" not in reason and len(reason) <= 300
        for key in ("image_quality_stats", "model_stats"):  # downstream carries the verdict
            assert latest_metadata(instance, key, model_id)["refused_reason"] == reason
        if asset == "sampled_images":  # its upstream succeeded, and says so
            assert latest_metadata(instance, "model_metadata", model_id)["outcome"] == "ok"
        check = next(c for c in result.get_asset_check_evaluations()
                     if c.check_name == "not_degenerate")
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        assert "refused" in check.description and reason in check.description
        files = next(c for c in result.get_asset_check_evaluations()
                     if c.check_name == "files_consistent")
        assert files.passed  # no rows, no files: consistent, downstream not blocked

        # the attempt is history: one model_failures row, marked refused
        failures = Warehouse(home).read("model_failures").to_dicts()
        assert [(f["model_id"], f["asset"], f["stage"], f["error_type"], f["refused"],
                 f["transient"]) for f in failures] == [
            (model_id, asset, stage, error, True, False)]
        # no data rows for a refused model
        for table, key in (("fake_images", f"fake--{model_slug(model_id)}"),
                           ("model_stats", model_slug(model_id))):
            assert Warehouse(home).read_key(table, key).height == 0

        # `fakeimg run` leaves it alone, with the reason, until the repo changes on the Hub
        defs = build_definitions(home=str(home))
        graph = defs.resolve_asset_graph()
        failures_df = Warehouse(home).read("model_failures")

        def plan(catalog: dict):  # noqa: ANN202
            return plan_partitions(instance, graph, [model_id],
                                   sampling_config={"images_per_model": 3, "steps": 2},
                                   catalog=catalog, failures=failures_df)

        before = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        decisions = plan({model_id: {"last_modified": before}})
        assert [(d.sample, d.reason) for d in decisions] == [
            (False, f"refused for good: {reason}")]
        assert summarize(decisions).startswith(
            "sampling 0 of 1 partitions; skipped 1: 1 refused for good")
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        changed = plan({model_id: {"last_modified": later}})
        assert [(d.sample, d.reason) for d in changed] == [
            (True, "repo changed on the Hub since its refusal")]

        # automation sees a handled partition: no per-model asset is requested again, tick
        # after tick (model_report, downstream of every model, refreshes once, then rests)
        per_model = ("model_metadata", "sampled_images", "image_quality_stats", "model_stats")
        for _ in range(3):
            ticks.append(dg.evaluate_automation_conditions(defs=auto, instance=instance,
                                                           cursor=ticks[-1].cursor))
            assert not any(ticks[-1].get_requested_partitions(dg.AssetKey(a))
                           for a in per_model)
        assert ticks[-1].total_requested == 0


@pytest.mark.slow
def test_a_run_that_broke_still_fails(resources: dict, home: Path, zoo_catalog) -> None:
    """sampled_images without its model_metadata row is a bug in the order of things (a
    ValueError), not a verdict on the repo: the step fails and the row says refused false."""
    from tests.helpers.zoo import pick

    model = pick(zoo_catalog, expect="ok", architecture="sd1")
    with dg.instance_for_test() as instance:
        prepare_partition(instance, resources, model.model_id)
        result = _sample(instance, resources, model.model_id, [sampled_images])
        assert not result.success
        status = _status(instance, model.model_id)
        assert status["sampled_images"] == dg.AssetPartitionStatus.FAILED
        assert latest_metadata(instance, "sampled_images", model.model_id) == {}
        [row] = Warehouse(home).read("model_failures").to_dicts()
        assert row["error_type"] == "ValueError" and row["refused"] is False
        assert not row["transient"]

        # `fakeimg run` does not retry a permanent failure, and says it failed, not refused
        graph = build_definitions(home=str(home)).resolve_asset_graph()
        failures = Warehouse(home).read("model_failures")

        def plan(failures):  # noqa: ANN001, ANN202
            (d,) = plan_partitions(instance, graph, [model.model_id], catalog={},
                                   sampling_config={"images_per_model": 3}, failures=failures)
            return d.sample, d.reason

        assert plan(failures) == (False, f"failed for good: {row['message']}")
        flaky = failures.with_columns(pl.lit(True).alias("transient"))
        assert plan(flaky) == (True, f"last attempt failed (transient): {row['message']}")
