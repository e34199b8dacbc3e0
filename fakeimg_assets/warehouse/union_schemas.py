"""Columns shared by the storage tables behind one union view (`schemas.UNION_VIEWS`):
`images`, `image_stats`, `detector_runs` and `eval_results`; kept apart so `schemas.py`
stays small."""

from __future__ import annotations

import polars as pl

from fakeimg_assets.lib.times import UTC_TS

# Shared by the storage tables of one union view (see UNION_VIEWS): one definition each.
IMAGES: dict[str, pl.DataType] = {
    "image_id": pl.Utf8,
    "label": pl.Utf8,
    "source": pl.Utf8,
    "path": pl.Utf8,
    "sha256": pl.Utf8,
    "width": pl.Int64,
    "height": pl.Int64,
    "format": pl.Utf8,
    "mode": pl.Utf8,
    "file_bytes": pl.Int64,
    "prompt": pl.Utf8,
    "prompt_id": pl.Utf8,
    "seed": pl.Int64,
    "steps": pl.Int64,
    "guidance_scale": pl.Float64,
    "scheduler": pl.Utf8,
    "revision": pl.Utf8,
    "pipeline_class": pl.Utf8,
    "architecture": pl.Utf8,
    "image_index": pl.Int64,
    "batch_size": pl.Int64,
    "dtype": pl.Utf8,
    "device": pl.Utf8,
    "library_versions": pl.Utf8,
    "torch_threads": pl.Int64,  # fakes: torch's thread count while sampling (null before it was kept)
    "origin": pl.Utf8,
    "post": pl.Utf8,  # post-processing applied (both labels alike), null when none
    "photo_id": pl.Utf8,  # reals: '<source>:<sha256 of the photo file>[:16]'
    "photo_split": pl.Utf8,  # reals: 'train'/'test' from detection.sides.photo_side
    "created_at": UTC_TS,
}

IMAGE_STATS: dict[str, pl.DataType] = {
    "image_id": pl.Utf8,
    "source": pl.Utf8,
    "label": pl.Utf8,
    "mean_luma": pl.Float64,
    "std_luma": pl.Float64,
    "black_pixel_fraction": pl.Float64,
    "saturated_pixel_fraction": pl.Float64,
    "entropy": pl.Float64,
    "laplacian_var": pl.Float64,
    "dhash": pl.Utf8,
    "is_black": pl.Boolean,
    "is_constant": pl.Boolean,
    "sha256_ok": pl.Boolean,
}

DETECTOR_RUNS: dict[str, pl.DataType] = {
    "run_id": pl.Utf8,
    "purpose": pl.Utf8,
    "split_id": pl.Utf8,
    "backbone": pl.Utf8,
    "n_train_models": pl.Int64,
    "n_train_images": pl.Int64,
    "n_train_real": pl.Int64,
    "n_train_fake": pl.Int64,
    "train_models": pl.List(pl.Utf8),
    "epochs": pl.Int64,
    "seconds": pl.Float64,
    "created_at": UTC_TS,
    "checkpoint_path": pl.Utf8,
    "timm_dir": pl.Utf8,  # the same detector as a timm folder; null for runs trained before it
    "dagster_run_id": pl.Utf8,
    "recipe": pl.Utf8,  # training recipe (backbone registry name) it was trained with
    "seed": pl.Int64,  # init/augmentation seed
    "resumed_from_epoch": pl.Int64,  # epochs restored from a saved state (0: fresh)
}

EVAL_RESULTS: dict[str, pl.DataType] = {
    "run_id": pl.Utf8,
    "detector": pl.Utf8,  # the platform's run id, or an outside detector's name
    "split_id": pl.Utf8,
    "protocol": pl.Utf8,  # 'held_out_models', 'held_out_family', 'time_ordered', 'external', ...
    "eval_set": pl.Utf8,  # 'external' / 'cross_dataset': the set scored ('hub' or a collection)
    "train_source": pl.Utf8,  # 'cross_dataset': the source the detector trained on
    "perturbation": pl.Utf8,
    "split": pl.Utf8,
    "group_kind": pl.Utf8,
    "group_value": pl.Utf8,
    "n_real": pl.Int64,
    "n_fake": pl.Int64,
    "ap": pl.Float64,
    "ap_ci_low": pl.Float64,
    "ap_ci_high": pl.Float64,
    "accuracy": pl.Float64,
    "acc_real": pl.Float64,
    "acc_fake": pl.Float64,
    "auc": pl.Float64,
    "evaluated_at": UTC_TS,
}
