"""Column schemas of every relation users query in `warehouse.duckdb`.

One place fixes names and types, so Parquet files written by parallel partitions always
union cleanly and CONTRACT.md's columns can be checked by a test.

`RELATIONS` are the storage tables: one Parquet folder each, each written by exactly one
Dagster asset (its `dagster/table_name`), so the UI's table lineage and row counts are
unambiguous. The one exception is `model_failures` (`SHARED_WRITERS`): a failure log that
whichever per-model stage failed, and the run-failure sensor, append to. Where one contract
relation holds rows of several assets (`images`: sampled fakes and cut reals), each asset
owns its own storage table and the contract name is a `UNION ALL` view over them
(`UNION_VIEWS`); the parts share one schema, defined once below.
"""

from __future__ import annotations

import polars as pl

from fakeimg_assets.lib.times import UTC_TS
from fakeimg_assets.warehouse.census_schema import HUB_CENSUS
from fakeimg_assets.warehouse.union_schemas import (
    DETECTOR_RUNS,
    EVAL_RESULTS,
    IMAGE_STATS,
    IMAGES,
)

RELATIONS: dict[str, dict[str, pl.DataType]] = {
    "hub_models": {
        "model_id": pl.Utf8,
        "author": pl.Utf8,
        "sha": pl.Utf8,
        "created_at": UTC_TS,
        "last_modified": UTC_TS,
        "downloads": pl.Int64,
        "likes": pl.Int64,
        "pipeline_tag": pl.Utf8,
        "library_name": pl.Utf8,
        "license": pl.Utf8,
        "gated": pl.Utf8,
        "private": pl.Boolean,
        "tags": pl.List(pl.Utf8),
        "first_seen_at": UTC_TS,
        "last_seen_at": UTC_TS,
    },
    "crawl_rejects": {  # listing entries the crawl refused (catalog/listing.py), per crawl
        "crawl_id": pl.Utf8,
        "raw_id": pl.Utf8,  # the id as listed (non-strings as JSON, cut past 1000 chars)
        "reason": pl.Utf8,  # which field was wrong, and how
        "seen_at": UTC_TS,
        "dagster_run_id": pl.Utf8,
    },
    "model_metadata": {
        "model_id": pl.Utf8,
        "revision": pl.Utf8,
        "pipeline_class": pl.Utf8,
        "architecture": pl.Utf8,
        "recipe": pl.Utf8,
        "license": pl.Utf8,
        "gated": pl.Utf8,
        "created_at": UTC_TS,
        "last_modified": UTC_TS,
        "repo_bytes": pl.Int64,
        "downloaded_bytes": pl.Int64,
        "n_repo_files": pl.Int64,
        "n_downloaded_files": pl.Int64,
        "weights_variant": pl.Utf8,
        "scheduler": pl.Utf8,
        "components": pl.Utf8,
        "skipped_files": pl.Utf8,
        "file_sha256": pl.Utf8,
        "base_model": pl.Utf8,  # the card's first declared base model (lineage)
        "base_models": pl.List(pl.Utf8),  # every declared base model
        "kind": pl.Utf8,  # 'pipeline', 'lora', 'single_file' (repo_kind.py) or 'collection'
        "collection": pl.Utf8,  # kind 'collection': the image collection it came with
        "family_group": pl.Utf8,  # lib/family_groups.py: 'latent_diffusion', 'gan', ...
        "base_revision": pl.Utf8,  # lora/single_file: the base's pinned commit sha
        "adapter_scale": pl.Float64,  # lora: the scale the adapter is applied with
        "trigger_words": pl.Utf8,  # lora: prepended to every prompt (card instance_prompt)
        "fetched_at": UTC_TS,
    },
    "hub_census": HUB_CENSUS,  # catalog/census.py (columns in census_schema.py)
    "fake_images": IMAGES,  # sampled_images
    "real_images": IMAGES,  # real_images
    "collection_real_images": IMAGES,  # collection_reals (a collection's own real images)
    "fake_image_stats": IMAGE_STATS,  # image_quality_stats
    "real_image_stats": IMAGE_STATS,  # real_image_stats (a spec of the real_images step)
    "collection_real_image_stats": IMAGE_STATS,  # a spec of the collection_reals step
    "model_stats": {
        "model_id": pl.Utf8,
        "n_images": pl.Int64,
        "black_fraction": pl.Float64,
        "constant_fraction": pl.Float64,
        "duplicate_fraction": pl.Float64,
        "mean_luma": pl.Float64,
        "mean_std_luma": pl.Float64,
        "mean_entropy": pl.Float64,
        "mean_laplacian_var": pl.Float64,
        "sha256_failures": pl.Int64,
        "quarantined": pl.Boolean,
        "quarantine_reason": pl.Utf8,
        "computed_at": UTC_TS,
    },
    "model_failures": {
        "model_id": pl.Utf8,
        "asset": pl.Utf8,
        "stage": pl.Utf8,
        "error_type": pl.Utf8,
        "message": pl.Utf8,
        "transient": pl.Boolean,  # retryable (429, 5xx, timeout, truncation): see retry.py
        "refused": pl.Boolean,  # a refusal by design (models/refusals.py): the asset materialized
        "failed_at": UTC_TS,
        "dagster_run_id": pl.Utf8,
    },
    "prompts": {
        "prompt_id": pl.Utf8,
        "prompt": pl.Utf8,
        "source": pl.Utf8,
        "real_image_id": pl.Utf8,
        "photo_id": pl.Utf8,
        "origin": pl.Utf8,  # 'train_photos' (training-side captions only) or 'corpus'
    },
    "real_photos": {
        "photo_id": pl.Utf8,
        "source": pl.Utf8,
        "source_kind": pl.Utf8,
        "name": pl.Utf8,
        "caption": pl.Utf8,
        "status": pl.Utf8,  # 'kept' or 'skipped'
        "skip_reason": pl.Utf8,  # 'unreadable', 'tiny', 'grayscale', 'duplicate'
        "detail": pl.Utf8,
        "width": pl.Int64,
        "height": pl.Int64,
        "source_format": pl.Utf8,
        "source_mode": pl.Utf8,
        "chroma": pl.Float64,
        "phash": pl.Utf8,
        "duplicate_of": pl.Utf8,
        "photo_split": pl.Utf8,
        "path": pl.Utf8,
        "sha256": pl.Utf8,
        "file_bytes": pl.Int64,
        "screened_at": UTC_TS,
    },
    "shortcut_audit": {
        "audit_id": pl.Utf8,
        "scope": pl.Utf8,  # 'all' (the detector's candidates) or 'collection:<name>'
        "feature_set": pl.Utf8,
        "auc": pl.Float64,
        "auc_ci_low": pl.Float64,
        "auc_ci_high": pl.Float64,
        "n_images": pl.Int64,
        "n_real": pl.Int64,
        "n_fake": pl.Int64,
        "n_groups": pl.Int64,
        "classifier": pl.Utf8,
        "threshold": pl.Float64,
        "passed": pl.Boolean,
        "top_features": pl.Utf8,
        "created_at": UTC_TS,
    },
    "detector_splits": {
        "split_id": pl.Utf8,  # hash of the sorted (image_id, split) content: immutable
        "image_id": pl.Utf8,
        "split": pl.Utf8,
        "label": pl.Utf8,
        "source": pl.Utf8,
        "architecture": pl.Utf8,
        "model_created_at": UTC_TS,
        "path": pl.Utf8,
        "group_key": pl.Utf8,  # lineage group (fakes) or photo_id (reals): the side's key
        "family_group": pl.Utf8,  # fakes: lib/family_groups.py
        "collection": pl.Utf8,  # null: the platform's own fakes and photo crops
    },
    "split_versions": {
        "split_id": pl.Utf8,
        "created_at": UTC_TS,
        "test_fraction": pl.Float64,
        "seed": pl.Int64,
        "n_images": pl.Int64,
        "n_train_models": pl.Int64,
        "n_test_models": pl.Int64,
        "n_groups": pl.Int64,
        "dagster_run_id": pl.Utf8,
    },
    "trained_detectors": DETECTOR_RUNS,  # detector
    "scaling_detectors": DETECTOR_RUNS,  # scaling_detectors (a spec of scaling_study)
    "protocol_detectors": DETECTOR_RUNS,  # protocol_detectors (detector_evaluation)
    "diversity_detectors": DETECTOR_RUNS,  # diversity_detectors (a spec of diversity_study)
    "cross_dataset_detectors": DETECTOR_RUNS,  # cross_dataset_detectors (cross_dataset)
    "detector_eval_results": EVAL_RESULTS,  # detector_evaluation
    "cross_dataset_results": EVAL_RESULTS,  # cross_dataset
    "collections": {  # image_collections: one row per collection x generator
        "collection": pl.Utf8,
        "generator": pl.Utf8,
        "model_id": pl.Utf8,  # its hub_models partition key: collection--<name>/<generator>
        "generator_name": pl.Utf8,  # as the source spells it
        "role": pl.Utf8,  # 'train', 'eval' or 'both'
        "family_group": pl.Utf8,
        "family": pl.Utf8,  # the source's own family text, when it gave one
        "architecture": pl.Utf8,
        "release_date": pl.Date,
        "license": pl.Utf8,
        "n_images": pl.Int64,
        "n_bytes": pl.Int64,
        "n_real": pl.Int64,  # the collection's own real images (all its rows alike)
        "digest": pl.Utf8,  # sha256 of the generator's sorted image sha256s
        "source": pl.Utf8,
        "source_kind": pl.Utf8,  # 'folder', 'cf_parquet' or 'hub_dataset'
        "source_revision": pl.Utf8,
        "revision": pl.Utf8,  # the collection's content digest
        "added_at": UTC_TS,
    },
    "collection_rejects": {  # image_collections: a file or line of a source not taken
        "collection": pl.Utf8,
        "generator": pl.Utf8,
        "file": pl.Utf8,
        "reason": pl.Utf8,
        "added_at": UTC_TS,
    },
    "diversity_results": {  # diversity_study: one row per condition x draw
        "study_id": pl.Utf8,
        "run_id": pl.Utf8,
        "split_id": pl.Utf8,
        "n_train_models": pl.Int64,
        "condition": pl.Utf8,  # 'single_family' or 'multi_family'
        "draw": pl.Int64,
        "family_by": pl.Utf8,  # what a family is: 'architecture' or 'family_group'
        "families": pl.List(pl.Utf8),
        "n_families": pl.Int64,
        "n_train_images": pl.Int64,
        "n_train_fake": pl.Int64,
        "ap": pl.Float64,  # mean over held-out generators of the balanced per-generator AP
        "pooled_ap": pl.Float64,
        "accuracy": pl.Float64,
        "auc": pl.Float64,
        "n_heldout_models": pl.Int64,
        "generator_ap": pl.Utf8,  # JSON {held-out generator: its balanced AP}
        "train_models": pl.List(pl.Utf8),
        "draw_seed": pl.Int64,
        "init_seed": pl.Int64,
        "created_at": UTC_TS,
    },
    "scaling_results": {
        "study_id": pl.Utf8,
        "run_id": pl.Utf8,
        "split_id": pl.Utf8,
        "n_train_models": pl.Int64,
        "draw": pl.Int64,
        "control": pl.Boolean,  # True: the fixed generator set with a growing image count
        "n_families": pl.Int64,  # architectures among the training models
        "n_train_images": pl.Int64,
        "n_train_fake": pl.Int64,
        "ap": pl.Float64,  # mean over held-out generators of the balanced per-generator AP
        "pooled_ap": pl.Float64,  # AP over the union of those balanced sets
        "accuracy": pl.Float64,
        "auc": pl.Float64,
        "n_heldout_models": pl.Int64,
        "unseen_families": pl.List(pl.Utf8),  # held-out architectures with no training model
        "seen_ap": pl.Float64,  # control: training models' images this run did not train on
        "ap_other": pl.Float64,  # leave-one-family-out: held-out generators of other families
        "protocol": pl.Utf8,  # 'scaling', 'scaling_control', 'leave_one_family_out', 'lofo_curve'
        "left_out_family": pl.Utf8,
        "generator_ap": pl.Utf8,  # JSON {held-out generator: its balanced AP}: the verdict's bootstrap
        "baseline_ap": pl.Float64,  # the pixel-statistics baseline trained on this run's frame
        "baseline_generator_ap": pl.Utf8,  # JSON, as generator_ap, for the baseline
        "train_models": pl.List(pl.Utf8),
        "draw_seed": pl.Int64,  # picks the models and images of this draw
        "init_seed": pl.Int64,  # weight init and augmentation of this draw's detector
        "created_at": UTC_TS,
    },
}


# Contract names that hold rows of several assets: a view over each asset's own table.
UNION_VIEWS: dict[str, tuple[str, ...]] = {
    "images": ("fake_images", "real_images", "collection_real_images"),
    "image_stats": ("fake_image_stats", "real_image_stats", "collection_real_image_stats"),
    "detector_runs": ("trained_detectors", "scaling_detectors", "protocol_detectors",
                      "diversity_detectors", "cross_dataset_detectors"),
    "eval_results": ("detector_eval_results", "cross_dataset_results"),
}

# Storage tables no single asset owns: the failure log every per-model stage (and the
# run-failure sensor) appends a row to when it fails.
SHARED_WRITERS = frozenset({"model_failures"})


def all_relations() -> list[str]:
    """Every name users can query: the storage tables, then the union views over them."""
    return [*RELATIONS, *UNION_VIEWS]


def parts_of(relation: str) -> tuple[str, ...]:
    """The storage tables behind a name: the union's parts, or the table itself."""
    schema_of(relation)
    return UNION_VIEWS.get(relation, (relation,))


def schema_of(relation: str) -> dict[str, pl.DataType]:
    """The schema of a relation (a union view's is its parts'); unknown names fail listing
    the known ones."""
    if relation in UNION_VIEWS:
        return RELATIONS[UNION_VIEWS[relation][0]]
    try:
        return RELATIONS[relation]
    except KeyError:
        raise KeyError(
            f"unknown warehouse relation {relation!r}; known: {', '.join(sorted(all_relations()))}"
        ) from None


def to_frame(relation: str, rows: list[dict] | pl.DataFrame) -> pl.DataFrame:
    """Rows as a DataFrame in the relation's exact column order and types.

    Missing columns become nulls; a column the schema does not know is an error, so a typo
    never silently drops data.
    """
    schema = schema_of(relation)
    df = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows, infer_schema_length=None)
    extra = [c for c in df.columns if c not in schema]
    if extra:
        raise ValueError(f"relation {relation!r} has no column(s) {extra}")
    exprs = []
    for name, dtype in schema.items():
        if name in df.columns:
            exprs.append(pl.col(name).cast(dtype, strict=False).alias(name))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    if df.height == 0 and not df.columns:
        return pl.DataFrame(schema=schema)
    return df.select(exprs)
