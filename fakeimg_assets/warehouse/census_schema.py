"""Columns of `hub_census` (catalog/census.py), kept apart so `schemas.py` stays small."""

from __future__ import annotations

import polars as pl

from fakeimg_assets.lib.times import UTC_TS

# one row per (kind, pipeline_class, base_model) group of one crawl's repos
HUB_CENSUS: dict[str, pl.DataType] = {
    "crawl_id": pl.Utf8,
    "crawled_at": UTC_TS,
    "kind": pl.Utf8,  # 'pipeline', 'lora', 'single_file', 'other'
    "pipeline_class": pl.Utf8,
    "base_model": pl.Utf8,
    "n_models": pl.Int64,
    "n_eligible": pl.Int64,  # passes the selection policy and not refused for good
    "n_sampled": pl.Int64,  # has images (quarantined ones included)
    "n_quarantined": pl.Int64,
    "n_failed": pl.Int64,  # latest attempt failed and no images
    "coverage": pl.Float64,  # n_sampled / n_eligible
    "held_back": pl.Utf8,  # JSON {reason: repos} of what keeps repos out
}
