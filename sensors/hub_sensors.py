"""`new_hub_models`: makes every eligible crawled model a partition, a batch per tick.

The sensor works from the crawled `hub_models` catalogue (`catalog/`), never from a Hub
listing: a tick reads one Parquet file and the partition list, adds at most a batch of
the backlog (`sensors/backlog.py`: a set difference in a stable order, so a large Hub
drains in ceil(backlog / batch) ticks and late-public repos are not missed) and requests
a `sample_model` run for each. It keeps the catalogue current by requesting an
(incremental) `hub_crawl` run once per crawl period when none ran in it. Each tick also
re-requests models whose latest failure was transient (`sensors/retries.py`).
The cursor records progress (pending backlog, catalogue size); it is never needed for
correctness, so a lost cursor re-adds nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import dagster as dg

from fakeimg_assets.catalog.selection import SelectionPolicy
from fakeimg_assets.jobs import hub_crawl_job, sample_model_job
from fakeimg_assets.lib.paths import shown_id
from fakeimg_assets.partitions import HUB_MODELS_PARTITIONS_NAME, hub_models_partitions
from resources import WarehouseResource
from sensors import retries
from sensors.backlog import BacklogTick, plan_tick

MAX_NEW_PER_TICK = 200  # partitions added per tick (Dagster allows ~25k; runs are the limit)
CRAWL_EVERY_S = 3600  # one crawl request per period at most
CATALOG_ASSET = dg.AssetKey("hub_catalog")
_IN_FLIGHT = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def read_cursor(cursor: str | None) -> dict:
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def sample_run_key(model_id: str) -> str:
    """The first sampling run of a model: one key per model, whatever tick adds it."""
    return f"sample:{model_id}"


def crawl_request(
    instance: dg.DagsterInstance, now: float, every_s: int
) -> dg.RunRequest | None:
    """A `hub_crawl` run unless the catalogue was crawled in this period or a crawl is running.

    The run key names the period, so the daemon launches at most one per period and a
    failed crawl is asked for again in the next one.
    """
    if every_s < 1:
        raise ValueError(f"crawl period must be >= 1 s, got {every_s}")
    period = int(now // every_s)
    latest = instance.get_latest_materialization_event(CATALOG_ASSET)
    if latest is not None and latest.timestamp >= period * every_s:
        return None
    running = instance.get_runs(
        filters=dg.RunsFilter(job_name=hub_crawl_job.name, statuses=_IN_FLIGHT), limit=1
    )
    if running:
        return None
    return dg.RunRequest(job_name=hub_crawl_job.name, run_key=f"crawl:{every_s}:{period}")


@dataclass(frozen=True)
class TickSettings:
    """What one deployment of the sensor may do per tick."""

    max_new_per_tick: int = MAX_NEW_PER_TICK
    crawl_every_s: int = CRAWL_EVERY_S
    policy: SelectionPolicy = SelectionPolicy()


def evaluate_tick(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    settings: TickSettings,
    now: float | None = None,
) -> dg.SensorResult:
    """One tick: a batch of the backlog, a crawl when due, retries of transient failures."""
    known = set(context.instance.get_dynamic_partitions(HUB_MODELS_PARTITIONS_NAME))
    tick: BacklogTick = plan_tick(
        warehouse.read("hub_models"), known, settings.policy, settings.max_new_per_tick
    )
    new = tick.add
    if tick.invalid:
        shown = ", ".join(shown_id(m) for m in tick.invalid[:5])
        context.log.warning(
            f"not adding {len(tick.invalid)} catalogued ids that are no Hub model id (a "
            f"catalogue crawled before ids were vetted): {shown}"
            f"{' ...' if len(tick.invalid) > 5 else ''}; the next hub_catalog run moves "
            "them to crawl_rejects"
        )
    requests = [
        dg.RunRequest(job_name=sample_model_job.name, partition_key=m, run_key=sample_run_key(m))
        for m in new
    ]
    if new:
        context.log.info(
            f"adding {len(new)} models ({tick.pending_after} left for later ticks): "
            f"{', '.join(new[:10])}"
        )
    limit = retries.MAX_TRANSIENT_RUNS
    retried = 0
    for decision in retries.transient_retries(warehouse, known, max_transient_runs=limit):
        if decision.request:
            retried += 1
            requests.append(
                dg.RunRequest(
                    job_name=sample_model_job.name,
                    partition_key=decision.model_id,
                    run_key=decision.run_key,
                )
            )
        else:
            context.log.warning(
                f"not re-requesting {decision.model_id}: failed transiently in "
                f"{decision.failed_runs} runs since its last success (limit "
                f"{limit}); materialize it by hand once the Hub is healthy"
            )
    if retried:
        context.log.info(f"re-requesting {retried} models after transient failures")
    crawl = crawl_request(
        context.instance, time.time() if now is None else now, settings.crawl_every_s
    )
    if crawl is not None:
        requests.append(crawl)
    cursor = {
        **read_cursor(context.cursor),
        "catalog_rows": tick.catalog_rows,
        "added": len(new),
        "pending": tick.pending_after,
        "last_added": new[-1] if new else read_cursor(context.cursor).get("last_added"),
    }
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[hub_models_partitions.build_add_request(new)] if new else [],
        cursor=json.dumps(cursor, sort_keys=True),
        skip_reason=None if requests else dg.SkipReason(
            f"no new models in the catalogue ({tick.catalog_rows} rows), nothing to retry, "
            "crawled this period"
        ),
    )


def build_new_hub_models_sensor(
    *,
    max_new_per_tick: int | None = None,
    crawl_every_s: int | None = None,
    minimum_interval_seconds: int = 3600,
    name: str = "new_hub_models",
) -> dg.SensorDefinition:
    """The sensor with its batch and crawl period; None reads the module defaults per tick."""
    for label, value in (("max_new_per_tick", max_new_per_tick), ("crawl_every_s", crawl_every_s)):
        if value is not None and value < 1:
            raise ValueError(f"{label} must be >= 1, got {value}")

    @dg.sensor(
        name=name,
        jobs=[sample_model_job, hub_crawl_job],
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            "Adds every eligible text-to-image diffusers model of the crawled hub_models "
            "catalogue as a partition (a batch per tick), requests an incremental crawl "
            "each period, and re-requests models whose latest failure was transient."
        ),
    )
    def _sensor(
        context: dg.SensorEvaluationContext, warehouse: WarehouseResource
    ) -> dg.SensorResult:
        settings = TickSettings(
            max_new_per_tick=max_new_per_tick or MAX_NEW_PER_TICK,
            crawl_every_s=crawl_every_s or CRAWL_EVERY_S,
        )
        return evaluate_tick(context, warehouse, settings)

    return _sensor


new_hub_models = build_new_hub_models_sensor()
