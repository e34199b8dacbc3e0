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

- Stats follow images (`stats_condition`): whenever a partition's `sampled_images` gets a new
  data version, by any run (a UI backfill of `sampled_images` alone included), its
  `image_quality_stats` and `model_stats` are requested, so `fake_image_stats` and
  `model_stats` never disagree with `fake_images` for long; meanwhile Dagster marks them
  stale. An 'unchanged' re-run keeps the data version and requests nothing.

Nothing that samples runs unless switched on: the `fakeimg_automation` sensor (which
evaluates the conditions of everything but the stats) and `retrain_detector` default to
STOPPED. `fakeimg_stats_follow_images` (the stats' conditions only: cheap, no Hub, no GPU)
defaults to RUNNING. The README names them all.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

AUTOMATION_SENSOR = "fakeimg_automation"
STATS_SENSOR = "fakeimg_stats_follow_images"
STATS_ASSETS = ("image_quality_stats", "model_stats")  # one step (a multi-asset) writes both
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


def stats_condition() -> dg.AutomationCondition:
    """Requested when newly missing, or when the partition's images got a new data version
    (or are requested in the same tick) since the stats last ran; never while the images
    are missing or in flight."""
    ac = dg.AutomationCondition
    images_changed = ac.any_deps_match(ac.data_version_changed() | ac.will_be_requested())
    return (
        (ac.newly_missing() | images_changed).since_last_handled()
        & ~ac.any_deps_missing()
        & ~ac.any_deps_in_progress()
        & ~ac.in_progress()
    ).with_label("new partition, or its images changed")


def catalog_freshness() -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.time_window(fail_window=CATALOG_FRESHNESS,
                                          warn_window=CATALOG_FRESHNESS / 2)  # fmt: skip


def evaluation_freshness() -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.time_window(fail_window=EVALUATION_FRESHNESS,
                                          warn_window=EVALUATION_FRESHNESS / 2)  # fmt: skip


def build_automation_sensor(
    *, minimum_interval_seconds: int = 60, name: str = AUTOMATION_SENSOR
) -> dg.AutomationConditionSensorDefinition:
    """Evaluates every asset's condition but the stats' (`build_stats_sensor`); STOPPED
    until a user turns it on in the UI."""
    return dg.AutomationConditionSensorDefinition(
        name,
        target=dg.AssetSelection.all() - dg.AssetSelection.assets(*STATS_ASSETS),
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Carries new hub_models partitions through metadata, images and stats, "
        "then refreshes model_report once no per-model run is in flight.",
    )


def build_stats_sensor(
    *, minimum_interval_seconds: int = 30, name: str = STATS_SENSOR
) -> dg.AutomationConditionSensorDefinition:
    """Evaluates the per-model stats' condition only; RUNNING by default (stats are cheap:
    they read the images already on disk)."""
    return dg.AutomationConditionSensorDefinition(
        name,
        target=dg.AssetSelection.assets(*STATS_ASSETS),
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Refreshes image_quality_stats and model_stats of a partition whose "
        "sampled_images got new images (by any run, a UI backfill included), so the stats "
        "tables agree with fake_images.",
    )
