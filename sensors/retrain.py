"""`retrain_detector`: re-cuts the split and retrains + re-evaluates the detector on a policy.

Per-model assets follow new partitions by their automation conditions; the detector is one
asset over *all* models, and retraining it for every new model would spend the day
training. The policy users set: the sensor asks for a retrain once `every_n_models`
newly sampled models (sampled = `image_quality_stats` materialized, the last per-model
step) are missing from the latest split; `build_retrain_schedule(cron)` retrains on a
cron instead (or as well). One request per trigger (the run key names the waiting model
set), none while a retrain is in flight. Both are STOPPED until a user turns them on.
"""

from __future__ import annotations

import hashlib
import time

import dagster as dg

from fakeimg_assets.jobs import detector_job
from fakeimg_assets.splits.store import latest_split_id
from resources import WarehouseResource

RETRAIN_SENSOR = "retrain_detector"
SAMPLED_ASSET = dg.AssetKey("image_quality_stats")
# what a retrain runs: fresh real crops, the audit, a new split, the detector, its evaluation;
# with every sibling asset of those steps (a multi-asset runs whole: real_images also writes
# real_image_stats, detector_dataset split_versions, detector_evaluation protocol_detectors)
RETRAIN_ASSETS = ("real_images", "real_image_stats", "shortcut_audit", "detector_dataset",
                  "split_versions", "detector", "detector_evaluation", "protocol_detectors",
                  "hub_census")  # fmt: skip
SCALING_ASSETS = ("scaling_study", "scaling_detectors")
_IN_FLIGHT = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED,
              dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]  # fmt: skip


def split_models(warehouse: WarehouseResource) -> set[str]:
    """Generators in the latest split (empty before the first)."""
    split_id = latest_split_id(warehouse)
    if split_id is None:
        return set()
    rows = warehouse.query(
        "SELECT DISTINCT source FROM detector_splits WHERE split_id = ? AND label = 'fake'",
        params=[split_id],
    )
    return set(rows["source"].to_list())


def quarantined_models(warehouse: WarehouseResource) -> set[str]:
    """Models the quality check quarantined: no split ever holds them, so they never wait."""
    rows = warehouse.query("SELECT model_id FROM model_stats WHERE quarantined")
    return set(rows["model_id"].to_list())


def models_awaiting_training(instance: dg.DagsterInstance, warehouse: WarehouseResource) -> list[str]:
    """Sampled, non-quarantined models that the latest split does not hold, sorted."""
    sampled = set(instance.get_materialized_partitions(SAMPLED_ASSET))
    return sorted(sampled - split_models(warehouse) - quarantined_models(warehouse))


def longest_wait_seconds(instance: dg.DagsterInstance, waiting: list[str],
                         now: float) -> float | None:
    """Seconds since the earliest stats materialization among the waiting models."""
    if not waiting:
        return None
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=SAMPLED_ASSET, asset_partitions=waiting),
        limit=1, ascending=True,
    ).records
    return now - records[0].timestamp if records else None


def retrain_assets(include_scaling: bool) -> list[dg.AssetKey]:
    return [dg.AssetKey(a) for a in (*RETRAIN_ASSETS, *(SCALING_ASSETS * include_scaling))]


def retrain_request(
    waiting: list[str], *, every_n_models: int, include_scaling: bool,
    run_config: dict | None = None, waited_s: float | None = None,
    max_wait_seconds: float | None = None,
) -> dg.RunRequest | None:
    """The run the policy asks for once `every_n_models` models wait, or once any waiting
    model has waited `max_wait_seconds` (so the last model of a burst is not left behind
    until others arrive); else None."""
    overdue = (max_wait_seconds is not None and waited_s is not None
               and waited_s >= max_wait_seconds and bool(waiting))
    if len(waiting) < every_n_models and not overdue:
        return None
    digest = hashlib.sha256("\n".join(waiting).encode()).hexdigest()[:16]
    return dg.RunRequest(
        job_name=detector_job.name,
        run_key=f"retrain:{len(waiting)}:{digest}",
        asset_selection=retrain_assets(include_scaling),
        run_config=run_config or {},
        tags={"fakeimg/trigger": f"{len(waiting)} new models"
              + (f", waited {waited_s:.0f} s" if len(waiting) < every_n_models else "")},
    )


def build_retrain_sensor(
    *,
    every_n_models: int = 10,
    max_wait_seconds: float | None = 86400.0,
    include_scaling: bool = False,
    minimum_interval_seconds: int = 300,
    name: str = RETRAIN_SENSOR,
    run_config: dict | None = None,
) -> dg.SensorDefinition:
    """The every-N-models policy (STOPPED by default), with a deadline: a model that has
    waited `max_wait_seconds` (default a day, the platform's promise; None: never) is
    trained without waiting for N. `run_config` goes with each request
    (e.g. `{"ops": {"detector": {"config": {"backbone": ..., "epochs": ...}}}}`)."""
    if every_n_models < 1:
        raise ValueError(f"every_n_models must be >= 1, got {every_n_models}")
    if max_wait_seconds is not None and max_wait_seconds <= 0:
        raise ValueError(f"max_wait_seconds must be > 0 or None, got {max_wait_seconds}")

    @dg.sensor(
        name=name,
        jobs=[detector_job],
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Retrains and re-evaluates the detector every {every_n_models} newly "
        "sampled models, or once one has waited "
        f"{'forever' if max_wait_seconds is None else f'{max_wait_seconds:g} s'} "
        "(STOPPED by default).",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, warehouse: WarehouseResource
    ) -> dg.RunRequest | dg.SkipReason:
        running = context.instance.get_runs(
            filters=dg.RunsFilter(job_name=detector_job.name, statuses=_IN_FLIGHT), limit=1
        )
        if running:
            return dg.SkipReason(f"a {detector_job.name} run is in flight")
        waiting = models_awaiting_training(context.instance, warehouse)
        waited = longest_wait_seconds(context.instance, waiting, time.time())
        request = retrain_request(waiting, every_n_models=every_n_models,
                                  include_scaling=include_scaling, run_config=run_config,
                                  waited_s=waited, max_wait_seconds=max_wait_seconds)
        if request is None:
            return dg.SkipReason(
                f"{len(waiting)} sampled models await training; retraining at {every_n_models}"
                + (f" or after {max_wait_seconds:g} s (longest wait {waited:.0f} s)"
                   if max_wait_seconds is not None and waited is not None else "")
            )
        context.log.info(f"retraining on {len(waiting)} new models: {', '.join(waiting[:10])}")
        return request

    return _sensor


def build_retrain_schedule(
    cron: str, *, include_scaling: bool = False, name: str = "retrain_detector_schedule",
    run_config: dict | None = None,
) -> dg.ScheduleDefinition:
    """The cron policy (UTC, STOPPED by default); Dagster validates `cron`."""
    return dg.ScheduleDefinition(
        name=name,
        cron_schedule=cron,
        target=retrain_assets(include_scaling),
        run_config=run_config,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Retrains and re-evaluates the detector on cron {cron!r} (UTC).",
    )


