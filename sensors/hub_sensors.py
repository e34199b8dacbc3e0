"""`new_hub_models`: notices newly published Hub models and makes them partitions.

Polls newest-first with a created-at watermark in the cursor; compares against the
partitions that already exist, so a model is added exactly once even across restarts.
Never calls the network at import time: the Hub resource is used only inside a tick.
Each tick also re-requests models whose latest failure was transient (`sensors/retries.py`,
read from Parquet via the warehouse resource); a flaky Hub listing keeps the cursor.
"""


import datetime as dt
import json

import dagster as dg

from fakeimg_assets.catalog.selection import SelectionPolicy, select_models
from fakeimg_assets.jobs import sample_model_job
from fakeimg_assets.partitions import HUB_MODELS_PARTITIONS_NAME, hub_models_partitions
from fakeimg_assets.retry import is_transient
from fakeimg_assets.warehouse.store import parse_time
from resources import HubResource, WarehouseResource
from sensors import retries

MAX_NEW_PER_TICK = 200  # Dagster allows ~25k partition additions per evaluation; runs are the limit
MAX_SCAN_PER_TICK = 5000  # bounded so a tick ends well inside the 60 s sensor timeout
SKIP_FACTOR = 10  # rows passed over uncounted (already partitions / already examined)


def read_cursor(cursor: str | None) -> dict:
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def evaluate_new_models(
    hub: HubResource,
    known: set[str],
    cursor: dict,
    policy: SelectionPolicy,
    *,
    max_new: int = MAX_NEW_PER_TICK,
    max_scan: int = MAX_SCAN_PER_TICK,
) -> tuple[list[str], dict]:
    """New model ids (newest first) and the next cursor.

    The watermark only moves when a scan reaches it (or the list's end) without hitting
    `max_new`, so a capped tick never skips the older models it left for the next one.
    `max_scan` counts rows examined; rows that are already partitions, or that a scan cut
    short by `max_scan` examined already (`sweep_top`..`resume_below` in the cursor), are
    passed over uncounted (at most `SKIP_FACTOR * max_scan` rows in all), so ticks cut
    short walk down the list instead of re-reading its newest rows forever.
    """
    if max_new < 1 or max_scan < 1:
        raise ValueError(f"max_new and max_scan must be >= 1, got {max_new}, {max_scan}")
    watermark = parse_time(cursor.get("newest_created_at"))
    top, floor = parse_time(cursor.get("sweep_top")), parse_time(cursor.get("resume_below"))
    rows: list[dict] = []
    newest, oldest, reached, seen = watermark, None, False, 0
    for row in hub.list_text_to_image_models(sort="created_at"):
        created = parse_time(row.get("created_at"))
        if watermark is not None and created is not None and created < watermark:
            reached = True
            break
        if created is not None and (newest is None or created > newest):
            newest = created
        seen += 1
        swept = None not in (created, top, floor) and floor <= created <= top  # type: ignore[operator]
        if row.get("model_id") not in known and not swept:
            rows.append(row)
            oldest = created if created is not None else oldest
        if len(rows) >= max_scan or seen >= SKIP_FACTOR * max_scan:
            break
    else:
        reached = True
    new = select_models(rows, known, policy, limit=max_new)
    capped = len(new) >= max_new
    next_cursor = dict(cursor)
    if reached and not capped:
        if newest is not None:
            next_cursor["newest_created_at"] = newest.isoformat()
        next_cursor.pop("sweep_top", None)
        next_cursor.pop("resume_below", None)
    elif not capped and oldest is not None and (floor is None or oldest < floor):
        # cut by max_scan below the earlier sweep: everything from `newest` down to `oldest`
        # has been examined (or is a partition), so the next tick starts below it
        next_cursor["sweep_top"], next_cursor["resume_below"] = _iso(newest), _iso(oldest)
    next_cursor["last_scan"] = len(rows)
    return new, next_cursor


@dg.sensor(
    name="new_hub_models",
    job=sample_model_job,
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Adds newly published text-to-image diffusers models as hub_models partitions, and "
        "re-requests models whose latest failure was transient (429, 5xx, timeout)."
    ),
)
def new_hub_models(
    context: dg.SensorEvaluationContext, hub: HubResource, warehouse: WarehouseResource
) -> dg.SensorResult:
    known = set(context.instance.get_dynamic_partitions(HUB_MODELS_PARTITIONS_NAME))
    cursor = read_cursor(context.cursor)
    try:
        new, next_cursor = evaluate_new_models(
            hub, known, cursor, SelectionPolicy(),
            max_new=MAX_NEW_PER_TICK, max_scan=MAX_SCAN_PER_TICK,
        )
    except Exception as exc:
        if not is_transient(exc):
            raise
        # a flaky Hub costs this tick's crawl only; retries below still go out
        context.log.warning(f"Hub listing failed transiently, cursor kept: {exc}")
        new, next_cursor = [], cursor
    requests = [dg.RunRequest(partition_key=m, run_key=f"sample:{m}") for m in new]
    if new:
        context.log.info(f"adding {len(new)} new models: {', '.join(new[:10])}")
    limit = retries.MAX_TRANSIENT_RUNS
    for decision in retries.transient_retries(warehouse, known, max_transient_runs=limit):
        if decision.request:
            requests.append(
                dg.RunRequest(partition_key=decision.model_id, run_key=decision.run_key)
            )
        else:
            context.log.warning(
                f"not re-requesting {decision.model_id}: failed transiently in "
                f"{decision.failed_runs} runs since its last success (limit "
                f"{limit}); materialize it by hand once the Hub is healthy"
            )
    retried = len(requests) - len(new)
    if retried:
        context.log.info(f"re-requesting {retried} models after transient failures")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[hub_models_partitions.build_add_request(new)] if new else [],
        cursor=json.dumps(next_cursor, sort_keys=True),
        skip_reason=None if requests else dg.SkipReason("no new models, nothing to retry"),
    )
