"""The code location: every asset, check, job, schedule, sensor and resource of fakeimg.

Loads in about a second: torch, diffusers and timm are imported only inside the
functions that need them, and nothing here reads the environment or the network.
"""

from __future__ import annotations

import dagster as dg

from fakeimg_assets.audit.asset import shortcut_audit
from fakeimg_assets.catalog.assets import hub_catalog
from fakeimg_assets.catalog.census import hub_census
from fakeimg_assets.detection.assets import (
    detector,
    detector_dataset,
    detector_evaluation,
    scaling_study,
)
from fakeimg_assets.jobs import ALL_JOBS
from fakeimg_assets.models.assets import image_quality_stats, model_metadata, sampled_images
from fakeimg_assets.real.assets import prompts, real_images, real_photos
from fakeimg_assets.schedules import daily_hub_crawl
from resources import ComputeResource, HubResource, ImageStoreResource, WarehouseResource
from sensors import new_hub_models

ALL_ASSETS = [
    hub_catalog,
    hub_census,
    real_photos,
    prompts,
    model_metadata,
    sampled_images,
    image_quality_stats,
    real_images,
    shortcut_audit,
    detector_dataset,
    detector,
    detector_evaluation,
    scaling_study,
]


def build_resources(
    *,
    home: str = "",
    endpoint: str | None = None,
    compute: ComputeResource | None = None,
) -> dict[str, dg.ConfigurableResource]:
    """Resources with empty settings resolved at run time ($FAKEIMG_HOME, $HF_ENDPOINT)."""
    return {
        "hub": HubResource(endpoint=endpoint),
        "warehouse": WarehouseResource(home=home),
        "image_store": ImageStoreResource(home=home),
        "compute": compute or ComputeResource(),
    }


def build_definitions(**resource_kwargs: object) -> dg.Definitions:
    return dg.Definitions(
        assets=ALL_ASSETS,
        jobs=ALL_JOBS,
        schedules=[daily_hub_crawl],
        sensors=[new_hub_models],
        resources=build_resources(**resource_kwargs),  # type: ignore[arg-type]
    )


defs = build_definitions()
