"""Jobs: the crawl, the real-data prep, per-model sampling, and detector training."""

from __future__ import annotations

import dagster as dg

from fakeimg_assets.catalog.assets import hub_catalog
from fakeimg_assets.detection.assets import (
    detector,
    detector_dataset,
    detector_evaluation,
    scaling_study,
)
from fakeimg_assets.models.assets import image_quality_stats, model_metadata, sampled_images
from fakeimg_assets.partitions import hub_models_partitions
from fakeimg_assets.real.assets import prompts, real_images

hub_crawl_job = dg.define_asset_job(
    "hub_crawl", selection=dg.AssetSelection.assets(hub_catalog), description="Crawl the Hub."
)
real_data_job = dg.define_asset_job(
    "real_data",
    selection=dg.AssetSelection.assets(real_images, prompts),
    description="Real images and the prompt pool built from their captions.",
)
sample_model_job = dg.define_asset_job(
    "sample_model",
    selection=dg.AssetSelection.assets(model_metadata, sampled_images, image_quality_stats),
    partitions_def=hub_models_partitions,
    description="Metadata, images and quality stats of one Hub model (one partition).",
)
detector_job = dg.define_asset_job(
    "train_detector",
    selection=dg.AssetSelection.assets(
        detector_dataset, detector, detector_evaluation, scaling_study
    ),
    description="Splits holding generators out, detector training, evaluation, scaling study.",
)

ALL_JOBS = [hub_crawl_job, real_data_job, sample_model_job, detector_job]
