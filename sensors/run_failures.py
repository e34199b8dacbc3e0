"""`record_dead_runs`: a `model_failures` row for a sampling run that died before its asset
could write one (OOM kill, a lost worker, run monitoring timing it out).

Per-model assets record their own failures (`models/failures.py`); a process that dies
takes that code with it, and the model would then look merely "not sampled". This sensor
sees every failed `sample_model` run, and when no row names the run it writes one:
stage 'process', transient (so the `new_hub_models` sensor re-requests it, at most 3
times), with the failure message Dagster recorded.

A run whose partition key is no Hub model id (an instance from before the crawl vetted ids
may hold such partitions) gets no row: the key cannot name a file, and the model could
never be sampled anyway. The sensor logs it (naming the run and the key) and carries on.
"""

from __future__ import annotations

import dagster as dg
import polars as pl

from fakeimg_assets.jobs import sample_model_job
from fakeimg_assets.lib.paths import InvalidModelIdError, model_slug, validate_partition_key
from fakeimg_assets.lib.times import utcnow
from resources import WarehouseResource

PARTITION_TAG = "dagster/partition"


def dead_run_row(run: dg.DagsterRun, step: str | None, message: str) -> dict | None:
    """The failure row for a failed partitioned run, None for a run without a model;
    `InvalidModelIdError` for a partition key that is neither a Hub model id nor a
    collection generator's key."""
    model_id = run.tags.get(PARTITION_TAG)
    if not model_id:
        return None
    return {
        "model_id": validate_partition_key(model_id),
        "asset": step or "run",
        "stage": "process",
        "error_type": "RunFailure",
        "message": (message or "run failed without an error from the asset")[:4000],
        "transient": True,  # a dead process is not a verdict on the repo
        "failed_at": utcnow(),
        "dagster_run_id": run.run_id,
    }


def record_dead_run(
    warehouse: WarehouseResource, run: dg.DagsterRun, step: str | None, message: str
) -> dict | None:
    """Write the row unless the run's asset already recorded one; returns what was written."""
    row = dead_run_row(run, step, message)
    if row is None:
        return None
    known = warehouse.read("model_failures")
    if known.height and known.filter(pl.col("dagster_run_id") == run.run_id).height:
        return None  # the asset wrote its own, more precise row
    key = f"{model_slug(row['model_id'])}--process--{run.run_id}"
    warehouse.write("model_failures", key, [row])
    return row


@dg.run_failure_sensor(
    name="record_dead_runs",
    monitored_jobs=[sample_model_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes a model_failures row for a sample_model run that died before its "
    "asset could (stage 'process', transient).",
)
def record_dead_runs(context: dg.RunFailureSensorContext, warehouse: WarehouseResource) -> None:
    event = context.failure_event
    run = context.dagster_run
    try:
        row = record_dead_run(warehouse, run, event.step_key, event.message or "")
    except InvalidModelIdError as exc:
        context.log.warning(
            f"no model_failures row for dead run {run.run_id}: its partition key is no Hub "
            f"model id ({exc}); it can never be sampled: delete that hub_models partition"
        )
        return
    if row is not None:
        context.log.info(f"recorded dead run {context.dagster_run.run_id} of {row['model_id']}")
