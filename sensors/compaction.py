"""`compact_warehouse_when_idle`: compact the warehouse after a batch of partitions.

Every `minimum_interval_seconds` (5 minutes) it counts the loose partition files of the
image tables (`fake_images`, `real_images`, `collection_real_images`). When there are at
least `min_loose_files` and no `sample_model` or `compact_warehouse` run is queued or in
progress (the batch is over: compacting while partitions still land would fold a moving
target again and again), it requests one `compact_warehouse` run. Its run key is the file
count and the newest file's time, so the same pile is never compacted twice.

STOPPED by default: `fakeimg run` compacts after its own batch. Switch it on where a daemon
or a cluster's workers backfill (docs/cluster.md).
"""

from __future__ import annotations

import os

import dagster as dg

from fakeimg_assets.jobs import compact_warehouse_job, sample_model_job
from fakeimg_assets.warehouse.schemas import UNION_VIEWS
from resources import WarehouseResource

BUSY = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def loose_image_files(warehouse: WarehouseResource) -> tuple[int, float]:
    """(count, newest mtime) of the image tables' loose partition files."""
    root = warehouse.store().parquet_root
    n, newest = 0, 0.0
    for table in UNION_VIEWS["images"]:
        try:
            entries = list(os.scandir(root / table))
        except FileNotFoundError:
            continue
        for e in entries:
            if e.name.endswith(".parquet") and not e.name.startswith((".", "_")):
                n += 1
                try:
                    newest = max(newest, e.stat().st_mtime)
                except FileNotFoundError:
                    continue
    return n, newest


def build_compaction_sensor(*, minimum_interval_seconds: int = 300,
                            min_loose_files: int = 1) -> dg.SensorDefinition:
    if min_loose_files < 1:
        raise ValueError(f"min_loose_files must be >= 1, got {min_loose_files}")

    @dg.sensor(name="compact_warehouse_when_idle", job_name=compact_warehouse_job.name,
               minimum_interval_seconds=minimum_interval_seconds,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description="Compacts the warehouse once a batch of partitions is over "
               "(no sample_model run queued or in progress).")
    def compact_warehouse_when_idle(context: dg.SensorEvaluationContext,
                                    warehouse: WarehouseResource):  # noqa: ANN202
        n, newest = loose_image_files(warehouse)
        if n < min_loose_files:
            return dg.SkipReason(f"{n} loose image partition files (< {min_loose_files})")
        for job in (sample_model_job.name, compact_warehouse_job.name):
            busy = context.instance.get_run_records(
                dg.RunsFilter(job_name=job, statuses=BUSY), limit=1)
            if busy:
                return dg.SkipReason(f"a {job} run is queued or in progress: the batch is "
                                     f"not over ({n} loose files wait)")
        return dg.RunRequest(run_key=f"compact-{n}-{newest:.6f}")

    return compact_warehouse_when_idle
