"""Jobs: the crawl, the real-data prep, per-model sampling, detector training, and the
warehouse's compaction."""

from __future__ import annotations

import dagster as dg

from fakeimg_assets.audit.assets import shortcut_audit
from fakeimg_assets.catalog.assets import hub_catalog, hub_census
from fakeimg_assets.collections.assets import collection_reals, image_collections
from fakeimg_assets.detection.assets import detector
from fakeimg_assets.evaluation.assets import detector_evaluation
from fakeimg_assets.evaluation.outside_assets import outside_detector_evaluation
from fakeimg_assets.models.assets import image_quality_stats, model_metadata, sampled_images
from fakeimg_assets.real.assets import prompts, real_images, real_photos
from fakeimg_assets.reports.assets import model_report
from fakeimg_assets.splits.assets import detector_dataset
from fakeimg_assets.studies.assets import scaling_study
from fakeimg_assets.studies.cross_dataset_assets import cross_dataset
from fakeimg_assets.studies.diversity_assets import diversity_study
from resources import WarehouseResource

hub_crawl_job = dg.define_asset_job(
    "hub_crawl",
    selection=dg.AssetSelection.assets(hub_catalog, hub_census),
    description="Crawl the Hub, then its census (coverage by kind).",
)
real_data_job = dg.define_asset_job(
    "real_data",
    selection=dg.AssetSelection.assets(real_photos, prompts),
    description="Real photos screened, and the prompt pool from training-side captions.",
)
real_crops_job = dg.define_asset_job(
    "real_crops",
    selection=dg.AssetSelection.assets(real_images),
    description="Real crops at the sampled fakes' sizes (also part of train_detector).",
)
sample_model_job = dg.define_asset_job(
    "sample_model",
    selection=dg.AssetSelection.assets(model_metadata, sampled_images, image_quality_stats),
    description="Metadata, images and quality stats of one Hub model (one partition; "
    "partitioning comes from the selected assets).",
    # one process for the three steps: the multiprocess executor launched a process and
    # imported torch per step (about 4 s of a 7 s partition on 2 cores; instance_config.py)
    executor_def=dg.in_process_executor,
)
model_report_job = dg.define_asset_job(
    "report_models",
    selection=dg.AssetSelection.assets(model_report),
    description="Every model at a glance, after the per-model runs (`fakeimg run` runs it).",
)
collections_job = dg.define_asset_job(
    "collections",
    selection=dg.AssetSelection.assets(image_collections, collection_reals),
    description="The staged image collections into the warehouse, and their own real images "
    "(`fakeimg collection add` runs it, then `sample_model` per generator).",
)
detector_job = dg.define_asset_job(
    "train_detector",
    selection=dg.AssetSelection.assets(
        real_images, collection_reals, shortcut_audit, detector_dataset, detector,
        detector_evaluation, scaling_study, diversity_study, cross_dataset,
        hub_census,  # the census again, now with this round's sampling outcomes
    ),
    description="Splits holding generators out, detector training, evaluation, and the "
    "scaling, diversity and cross-dataset studies.",
)

outside_detector_job = dg.define_asset_job(
    "evaluate_outside_detector",
    selection=dg.AssetSelection.assets(outside_detector_evaluation),
    description="Another detector (timm folder, hf-hub repo or command) scored on the latest "
    "split's held-out generators into eval_results (`fakeimg evaluate` runs it).",
)

@dg.op(description="Fold each table's per-partition Parquet files into its compacted file "
       "(warehouse/compaction.py): fast queries at millions of rows, safe beside running "
       "partitions and readers.")
def compact_warehouse_op(context, warehouse: WarehouseResource) -> None:  # noqa: ANN001
    results, _ = warehouse.store().compact(attempts=1)
    for r in results:
        if r.folded or r.skipped.startswith("busy"):
            context.log.info(r.summary())
        for line in r.warnings():
            context.log.warning(line)


@dg.job(name="compact_warehouse", tags={"kind": "duckdb"},
        description="The warehouse's partition files compacted (`fakeimg compact` does the "
        "same; the `compact_warehouse_when_idle` sensor runs it after a batch).")
def compact_warehouse_job() -> None:
    compact_warehouse_op()


ALL_JOBS = [hub_crawl_job, real_data_job, real_crops_job, sample_model_job, model_report_job,
            collections_job, detector_job, outside_detector_job, compact_warehouse_job]
