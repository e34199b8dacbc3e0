"""The code location: every asset, check, job, schedule, sensor and resource of fakeimg.

Loads in about a second: torch, diffusers and timm are imported only inside the
functions that need them, and nothing here reads the environment or the network (the
`EnvVar`s below are read by Dagster when a run or sensor tick starts).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from fakeimg_assets.audit.assets import shortcut_audit
from fakeimg_assets.automation import build_automation_sensor, build_stats_sensor
from fakeimg_assets.catalog.assets import hub_catalog, hub_census
from fakeimg_assets.collections.assets import collection_reals, image_collections
from fakeimg_assets.detection.assets import detector
from fakeimg_assets.evaluation.assets import detector_evaluation
from fakeimg_assets.evaluation.outside_assets import outside_detector_evaluation
from fakeimg_assets.export.assets import dataset_export
from fakeimg_assets.jobs import ALL_JOBS
from fakeimg_assets.models.assets import image_quality_stats, model_metadata, sampled_images
from fakeimg_assets.real.assets import prompts, real_images, real_photos
from fakeimg_assets.reports.assets import model_report
from fakeimg_assets.schedules import daily_hub_crawl
from fakeimg_assets.splits.assets import detector_dataset
from fakeimg_assets.studies.assets import scaling_study
from fakeimg_assets.studies.cross_dataset_assets import cross_dataset
from fakeimg_assets.studies.diversity_assets import diversity_study
from resources import ComputeResource, HubResource, ImageStoreResource, WarehouseResource
from sensors.compaction import build_compaction_sensor
from sensors.hub_sensors import build_new_hub_models_sensor
from sensors.retrain import build_retrain_schedule, build_retrain_sensor
from sensors.run_failures import record_dead_runs

ALL_ASSETS = [
    hub_catalog,
    hub_census,
    real_photos,
    prompts,
    model_metadata,
    sampled_images,
    image_quality_stats,
    model_report,
    real_images,
    image_collections,
    collection_reals,
    shortcut_audit,
    detector_dataset,
    detector,
    detector_evaluation,
    outside_detector_evaluation,
    scaling_study,
    diversity_study,
    cross_dataset,
    dataset_export,
]


def build_resources(
    *,
    home: str | dg.EnvVar = "",
    endpoint: str | None = None,
    token: str | dg.EnvVar | None = None,
    compute: ComputeResource | None = None,
    local_weights: dict[str, str] | None = None,
) -> dict[str, dg.ConfigurableResource]:
    """Resources; empty settings are resolved when a run starts ($FAKEIMG_HOME, $HF_ENDPOINT,
    $HF_TOKEN). `dg.EnvVar` values are resolved by Dagster then, and fail naming the variable
    when it is unset."""
    # an explicit home keeps its Hub cache too (an EnvVar home: `$FAKEIMG_HOME/hf-cache`)
    explicit = isinstance(home, str) and not isinstance(home, dg.EnvVar) and home
    cache_dir = str(Path(home) / "hf-cache") if explicit else None
    return {
        "hub": HubResource(endpoint=endpoint, token=token, cache_dir=cache_dir,
                           local_weights=local_weights or {}),
        "warehouse": WarehouseResource(home=home),
        "image_store": ImageStoreResource(home=home),
        "compute": compute or ComputeResource(),
    }


def build_definitions(
    *,
    retrain_every_n_models: int = 10,
    retrain_max_wait_seconds: float | None = 86400.0,
    retrain_cron: str | None = None,
    retrain_run_config: dict | None = None,
    retrain_interval_seconds: int = 300,
    automation_interval_seconds: int = 60,
    discovery_interval_seconds: int = 3600,
    crawl_every_s: int | None = None,
    executor: dg.ExecutorDefinition | None = None,
    **resource_kwargs: object,
) -> dg.Definitions:
    """The code location. Automation (all STOPPED until switched on in the UI): the
    `new_hub_models` sensor adds crawled models as partitions every
    `discovery_interval_seconds` (and asks for a crawl every `crawl_every_s`, default
    hourly); the `fakeimg_automation` sensor carries new partitions through the per-model
    assets but the stats, which `fakeimg_stats_follow_images` (RUNNING) refreshes whenever a
    partition's images change; the `retrain_detector` sensor retrains every `retrain_every_n_models` newly
    sampled models, or once one has waited `retrain_max_wait_seconds` (a day; None: never),
    with `retrain_run_config`; `retrain_cron` adds a
    `retrain_detector_schedule`. `executor`: the jobs' default (Dagster's: a process per
    step; `sample_model` always runs in one)."""
    schedules = [daily_hub_crawl]
    if retrain_cron is not None:
        schedules.append(build_retrain_schedule(retrain_cron, run_config=retrain_run_config))
    return dg.Definitions(
        assets=ALL_ASSETS,
        jobs=ALL_JOBS,
        schedules=schedules,
        sensors=[
            build_new_hub_models_sensor(minimum_interval_seconds=discovery_interval_seconds,
                                        crawl_every_s=crawl_every_s),
            record_dead_runs,
            build_retrain_sensor(every_n_models=retrain_every_n_models,
                                 max_wait_seconds=retrain_max_wait_seconds,
                                 minimum_interval_seconds=retrain_interval_seconds,
                                 run_config=retrain_run_config),
            build_automation_sensor(minimum_interval_seconds=automation_interval_seconds),
            # at least as often as the automation sensor (benchmarks tick every few seconds)
            build_stats_sensor(minimum_interval_seconds=min(30, automation_interval_seconds)),
            build_compaction_sensor(),
        ],
        resources=build_resources(**resource_kwargs),  # type: ignore[arg-type]
        executor=executor,
    )


def deployed_definitions(executor: dg.ExecutorDefinition | None = None) -> dg.Definitions:
    """The deployed code location: the data folder and the Hub token come from the
    environment through Dagster's EnvVar, so the UI shows where they come from and no value
    is ever stored in run config or the event log. Each daemon run is a fresh process, so
    sampling goes to the warm worker (sampling/worker.py) instead of importing torch in
    every run."""
    return build_definitions(home=dg.EnvVar("FAKEIMG_HOME"), token=dg.EnvVar("HF_TOKEN"),
                             compute=ComputeResource(sampler="warm_worker"), executor=executor)


# The deployed code location (`make dev`, `dg dev`, `dg launch`, the daemon). `make dev` exports
# FAKEIMG_HOME and HF_TOKEN (empty = anonymous). `fakeimg run` and tests build their own with
# explicit values; a cluster's workers load `fakeimg_assets.cluster.definitions`.
defs = deployed_definitions()
