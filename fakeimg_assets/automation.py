"""Declarative automation: what carries a new Hub model through the graph without a person.

- Per model (`model_metadata` -> `sampled_images` -> `image_quality_stats`): a partition
  the sensor adds is requested once it is missing and its upstream is present, and again
  when its own upstream partition is re-materialized. Updates of the shared `prompts` pool
  do *not* re-sample every model (on the real Hub that would re-pay every GPU-hour); run
  `fakeimg run --force` for that, deliberately.
- Downstream of all models (real crops, split, detector, evaluation): retrained by the
  `retrain_detector` sensor (`sensors/retrain.py`) every N newly sampled models, or on a
  cron, a policy users set where they build the definitions.
- Freshness policies state the promise: the catalogue is at most a day old, and an
  evaluation at most `EVALUATION_FRESHNESS` old.

Nothing runs unless switched on: the `fakeimg_automation` sensor (which evaluates these
conditions) and `retrain_detector` both default to STOPPED; the README names them.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

AUTOMATION_SENSOR = "fakeimg_automation"
CATALOG_FRESHNESS = timedelta(hours=24)  # a daily crawl; the sensor also crawls hourly
EVALUATION_FRESHNESS = timedelta(hours=48)  # a model published today is evaluated by then
SHARED_INPUTS = ("prompts", "real_photos")  # pools every partition reads, not its own data


def per_model_condition() -> dg.AutomationCondition:
    """Requested when newly missing (a new partition) or when its own upstream partition
    was updated since it was last handled; never while upstream is missing or in flight."""
    ac = dg.AutomationCondition
    upstream_updated = ac.any_deps_updated().ignore(dg.AssetSelection.assets(*SHARED_INPUTS))
    return (
        (ac.newly_missing() | upstream_updated).since_last_handled()
        & ~ac.any_deps_missing()
        & ~ac.any_deps_in_progress()
        & ~ac.in_progress()
    ).with_label("new model, or its own upstream updated")


def catalog_freshness() -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.time_window(fail_window=CATALOG_FRESHNESS,
                                          warn_window=CATALOG_FRESHNESS / 2)  # fmt: skip


def evaluation_freshness() -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.time_window(fail_window=EVALUATION_FRESHNESS,
                                          warn_window=EVALUATION_FRESHNESS / 2)  # fmt: skip


def build_automation_sensor(
    *, minimum_interval_seconds: int = 60, name: str = AUTOMATION_SENSOR
) -> dg.AutomationConditionSensorDefinition:
    """Evaluates every asset's condition; STOPPED until a user turns it on in the UI."""
    return dg.AutomationConditionSensorDefinition(
        name,
        target=dg.AssetSelection.all(),
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Carries new hub_models partitions through metadata, images and stats, "
        "then refreshes model_report once no per-model run is in flight.",
    )
