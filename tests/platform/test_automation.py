"""Automation across ticks: new partitions flow through the per-model assets by their
conditions; shared-pool updates do not re-sample every model; the retrain policy fires at N."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from fakeimg_assets.automation import AUTOMATION_SENSOR
from fakeimg_assets.definitions import build_definitions
from fakeimg_assets.warehouse.store import Warehouse
from resources import WarehouseResource
from sensors.retrain import RETRAIN_ASSETS, build_retrain_sensor, retrain_request

PER_MODEL = [dg.AssetKey(k) for k in ("model_metadata", "sampled_images", "image_quality_stats")]
M1, M2 = "org-a/model-one", "org-b/model-two"
REPORT = "model_report"


def _materialize(instance: dg.DagsterInstance, key: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))


def _requested(result: dg.EvaluateAutomationConditionsResult) -> dict[str, set[str]]:
    return {k.to_user_string(): set(result.get_requested_partitions(k)) for k in PER_MODEL
            if result.get_requested_partitions(k)}  # fmt: skip


@pytest.mark.slow
def test_new_partition_flows_through_per_model_assets_across_ticks() -> None:
    defs = build_definitions()
    assert defs.get_sensor_def(AUTOMATION_SENSOR).default_status == dg.DefaultSensorStatus.STOPPED
    with dg.instance_for_test() as instance:
        _materialize(instance, "prompts")
        _materialize(instance, "real_photos")
        instance.add_dynamic_partitions("hub_models", [M1])
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        # the first evaluation only records state: what was missing before is not "new"
        assert first.total_requested == 0

        instance.add_dynamic_partitions("hub_models", [M2])  # what the sensor does
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                 cursor=first.cursor)  # fmt: skip
        # one tick requests the whole per-model chain of the new partition, and only it
        assert _requested(tick) == {k.to_user_string(): {M2} for k in PER_MODEL}

        for key in PER_MODEL:  # the run did its work
            _materialize(instance, key.to_user_string(), M2)
        done = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                 cursor=tick.cursor)  # fmt: skip
        # the report follows the finished per-model runs, once (it feeds nothing: no loop)
        assert done.get_num_requested(dg.AssetKey(REPORT)) == 1 and done.total_requested == 1
        _materialize(instance, REPORT)
        quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                  cursor=done.cursor)  # fmt: skip
        assert quiet.total_requested == 0

        # a new prompt pool must not re-sample every model (GPU-hours on the real Hub)
        _materialize(instance, "prompts")
        pool = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                 cursor=quiet.cursor)  # fmt: skip
        assert pool.total_requested == 0

        # but a re-planned model (new revision) is re-sampled, then its stats follow
        _materialize(instance, "model_metadata", M2)
        replanned = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                      cursor=pool.cursor)  # fmt: skip
        assert _requested(replanned) == {"sampled_images": {M2}, "image_quality_stats": {M2}}
        assert replanned.get_num_requested(dg.AssetKey(REPORT)) == 1


def _split(home: Path, models: list[str]) -> None:
    wh = Warehouse(home)
    split_id = f"split-{len(models)}"
    wh.write("detector_splits", split_id, [
        {"split_id": split_id, "image_id": f"{m}-0", "split": "train", "label": "fake",
         "source": m, "architecture": "sd1", "model_created_at": None, "path": "x.png",
         "group_key": m} for m in models
    ])  # fmt: skip
    wh.write("split_versions", split_id, [{
        "split_id": split_id, "created_at": datetime.now(UTC), "test_fraction": 0.34, "seed": 0,
        "n_images": len(models), "n_train_models": len(models), "n_test_models": 0,
        "n_groups": len(models), "dagster_run_id": "r",
    }])  # fmt: skip


def test_retrain_policy_fires_at_n_new_sampled_models(tmp_path: Path) -> None:
    config = {"ops": {"detector": {"config": {"epochs": 1}}}}
    sensor = build_retrain_sensor(every_n_models=3, run_config=config)
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    warehouse = WarehouseResource(home=str(tmp_path))
    models = [f"org/m{i}" for i in range(5)]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hub_models", models)

        def tick() -> object:
            ctx = dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
            return sensor(ctx)

        for m in models[:2]:
            _materialize(instance, "image_quality_stats", m)
        assert isinstance(tick(), dg.SkipReason)  # 2 < 3
        _materialize(instance, "image_quality_stats", models[2])
        request = tick()
        assert isinstance(request, dg.RunRequest) and request.job_name == "train_detector"
        assert [k.to_user_string() for k in request.asset_selection] == list(RETRAIN_ASSETS)
        assert request.run_config == config
        assert request.run_key == tick().run_key  # same waiting set, same key: one run

        _split(tmp_path, models[:3])  # the retrain cut a split holding them
        assert isinstance(tick(), dg.SkipReason)
        for m in models[3:]:
            _materialize(instance, "image_quality_stats", m)
        assert isinstance(tick(), dg.SkipReason)  # 2 new since that split, not 3


@pytest.mark.slow
def test_retrain_policy_trains_a_lone_model_once_it_has_waited(tmp_path: Path) -> None:
    """Every-N alone leaves the last model of a burst untrained until N - 1 more arrive; the
    deadline trains it. A quarantined model never enters a split, so it never waits."""
    sensor = build_retrain_sensor(every_n_models=3, max_wait_seconds=2.0)
    warehouse = WarehouseResource(home=str(tmp_path))
    lone, broken = "org/lone", "org/broken"
    Warehouse(tmp_path).write("model_stats", "org--broken", [{
        "model_id": broken, "n_images": 4, "black_fraction": 1.0, "duplicate_fraction": 1.0,
        "quarantined": True, "quarantine_reason": "all black"}])  # fmt: skip
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hub_models", [lone, broken])

        def tick() -> object:
            ctx = dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
            return sensor(ctx)

        _materialize(instance, "image_quality_stats", broken)
        time.sleep(2.5)
        quiet = tick()
        assert isinstance(quiet, dg.SkipReason)  # the quarantined one waited, but never counts
        assert "0 sampled models await" in quiet.skip_message
        _materialize(instance, "image_quality_stats", lone)
        early = tick()
        assert isinstance(early, dg.SkipReason) and "or after 2 s" in early.skip_message
        time.sleep(2.5)
        request = tick()
        assert isinstance(request, dg.RunRequest)
        assert request.tags["fakeimg/trigger"].startswith("1 new models, waited ")
    never = build_retrain_sensor(every_n_models=3, max_wait_seconds=None)
    assert "waited forever" in never.description
    with pytest.raises(ValueError, match="max_wait_seconds"):
        build_retrain_sensor(max_wait_seconds=0)


def test_retrain_policy_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="every_n_models must be >= 1, got 0"):
        build_retrain_sensor(every_n_models=0)
    assert retrain_request([], every_n_models=1, include_scaling=False) is None
    scaling = retrain_request(["a/b"], every_n_models=1, include_scaling=True)
    assert scaling is not None and dg.AssetKey("scaling_study") in scaling.asset_selection
    defs = build_definitions(retrain_cron="0 3 * * 1")
    schedule = defs.get_schedule_def("retrain_detector_schedule")
    assert schedule.cron_schedule == "0 3 * * 1"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_policy_settings_reach_the_sensors_and_their_requests() -> None:
    """`build_definitions` hands its intervals, crawl period and retrain run config to the
    sensors it builds (the freshness benchmark's code location relies on it), and the
    default code location keeps the product's hourly discovery."""
    config = {"ops": {"detector": {"config": {"backbone": "tiny-resnet", "epochs": 1}}}}
    defs = build_definitions(retrain_run_config=config, retrain_interval_seconds=7,
                             discovery_interval_seconds=5, crawl_every_s=10,
                             automation_interval_seconds=6, retrain_cron="0 3 * * 1")
    assert defs.resolve_sensor_def("new_hub_models").minimum_interval_seconds == 5
    assert defs.resolve_sensor_def("retrain_detector").minimum_interval_seconds == 7
    assert defs.resolve_sensor_def("fakeimg_automation").minimum_interval_seconds == 6
    request = retrain_request(["a/b"], every_n_models=1, include_scaling=False, run_config=config)
    assert request is not None and request.run_config == config
    schedule = defs.get_schedule_def("retrain_detector_schedule")
    assert schedule.evaluate_tick(dg.build_schedule_context()).run_requests[0].run_config == config
    default = build_definitions()
    assert default.resolve_sensor_def("new_hub_models").minimum_interval_seconds == 3600


def _failed_run(instance: dg.DagsterInstance, model_id: str) -> tuple[dg.DagsterRun, object]:
    """A sample_model run for `model_id` that died (what run monitoring records)."""
    job = build_definitions().resolve_job_def("sample_model")
    run = instance.create_run_for_job(job_def=job, tags={"dagster/partition": model_id})
    instance.report_run_failed(run, "worker process exited unexpectedly (SIGKILL)")
    records = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE
    ).records
    return instance.get_run_by_id(run.run_id), records[-1].event_log_entry.dagster_event


def test_a_dead_sampling_run_gets_a_transient_failure_row_once(tmp_path: Path) -> None:
    from sensors.run_failures import record_dead_runs

    warehouse = WarehouseResource(home=str(tmp_path))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hub_models", [M1])
        run, event = _failed_run(instance, M1)
        ctx = dg.build_run_status_sensor_context(
            sensor_name="record_dead_runs", dagster_instance=instance, dagster_run=run,
            dagster_event=event, resources={"warehouse": warehouse},
        ).for_run_failure()  # fmt: skip
        record_dead_runs(ctx)
        rows = Warehouse(tmp_path).read("model_failures")
        assert rows.height == 1
        row = rows.row(0, named=True)
        assert (row["model_id"], row["stage"], row["transient"]) == (M1, "process", True)
        assert row["dagster_run_id"] == run.run_id and "SIGKILL" in row["message"]
        record_dead_runs(ctx)  # a second evaluation of the same run writes nothing more
        assert Warehouse(tmp_path).read("model_failures").height == 1

        # a run whose asset recorded its own failure row is left alone
        run2, event2 = _failed_run(instance, M2)
        Warehouse(tmp_path).write("model_failures", "own", [{**row, "model_id": M2,
                                  "stage": "plan", "dagster_run_id": run2.run_id}])  # fmt: skip
        ctx2 = dg.build_run_status_sensor_context(
            sensor_name="record_dead_runs", dagster_instance=instance, dagster_run=run2,
            dagster_event=event2, resources={"warehouse": warehouse},
        ).for_run_failure()  # fmt: skip
        record_dead_runs(ctx2)
        assert Warehouse(tmp_path).read("model_failures").height == 2
