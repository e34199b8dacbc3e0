"""`new_hub_models`: notices newly published Hub models and makes them partitions.

Polls newest-first with a created-at watermark in the cursor; compares against the
partitions that already exist, so a model is added exactly once even across restarts.
Never calls the network at import time: the Hub resource is used only inside a tick.
"""


import json

import dagster as dg

from fakeimg_assets.catalog.selection import SelectionPolicy, select_models
from fakeimg_assets.jobs import sample_model_job
from fakeimg_assets.partitions import HUB_MODELS_PARTITIONS_NAME, hub_models_partitions
from fakeimg_assets.warehouse.store import parse_time
from resources import HubResource

MAX_NEW_PER_TICK = 200  # Dagster allows ~25k partition additions per evaluation; runs are the limit
MAX_SCAN_PER_TICK = 5000  # bounded so a tick ends well inside the 60 s sensor timeout


def read_cursor(cursor: str | None) -> dict:
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


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
    """
    watermark = parse_time(cursor.get("newest_created_at"))
    rows, newest, reached = [], watermark, False
    for i, row in enumerate(hub.list_text_to_image_models(sort="created_at")):
        created = parse_time(row.get("created_at"))
        if watermark is not None and created is not None and created < watermark:
            reached = True
            break
        if created is not None and (newest is None or created > newest):
            newest = created
        rows.append(row)
        if i + 1 >= max_scan:
            break
    else:
        reached = True
    new = select_models(rows, known, policy, limit=max_new)
    capped = len(new) >= max_new
    next_cursor = dict(cursor)
    if reached and not capped and newest is not None:
        next_cursor["newest_created_at"] = newest.isoformat()
    next_cursor["last_scan"] = len(rows)
    return new, next_cursor


@dg.sensor(
    name="new_hub_models",
    job=sample_model_job,
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Adds newly published text-to-image diffusers models as hub_models partitions.",
)
def new_hub_models(context: dg.SensorEvaluationContext, hub: HubResource) -> dg.SensorResult:
    known = set(context.instance.get_dynamic_partitions(HUB_MODELS_PARTITIONS_NAME))
    cursor = read_cursor(context.cursor)
    new, next_cursor = evaluate_new_models(hub, known, cursor, SelectionPolicy())
    if new:
        context.log.info(f"adding {len(new)} new models: {', '.join(new[:10])}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=m, run_key=f"sample:{m}") for m in new],
        dynamic_partitions_requests=[hub_models_partitions.build_add_request(new)] if new else [],
        cursor=json.dumps(next_cursor, sort_keys=True),
        skip_reason=None if new else dg.SkipReason("no new models"),
    )
