"""`detector_dataset`: train/test splits that hold whole generators (and source photos) out."""

import dagster as dg
import polars as pl

from fakeimg_assets.detection.common import GROUP, markdown
from fakeimg_assets.detection.splits import (
    ModelInfoForSplit,
    held_out_groups,
    held_out_models,
)
from resources import WarehouseResource


class DatasetConfig(dg.Config):
    """`holdout`: 'random' (seeded by model id) or 'latest' (most recently published)."""

    test_fraction: float = 0.34
    holdout: str = "random"
    seed: int = 0


@dg.asset(
    group_name=GROUP,
    deps=["image_quality_stats", "model_metadata", "real_images"],
    kinds={"duckdb"},
    description="Train/test splits holding whole generators (and real source photos) out.",
)
def detector_dataset(
    context: dg.AssetExecutionContext, config: DatasetConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    fakes = warehouse.query(
        """
        SELECT i.image_id, i.label, i.source, i.path, m.architecture, m.created_at
        FROM images i
        JOIN model_stats s ON s.model_id = i.source AND NOT s.quarantined
        JOIN model_metadata m ON m.model_id = i.source
        WHERE i.label = 'fake'
        """
    )
    reals = warehouse.query(
        "SELECT image_id, label, source, path, origin FROM images WHERE label = 'real'"
    )
    if reals.height == 0:
        raise dg.Failure("no real images: materialize real_images first")
    model_rows = fakes.unique("source").sort("source")
    models = [
        ModelInfoForSplit(r["source"], r["architecture"], r["created_at"])
        for r in model_rows.iter_rows(named=True)
    ]
    if len(models) < 2:
        raise dg.Failure(
            f"need at least 2 sampled, non-quarantined models to hold generators out; have "
            f"{len(models)}. Sample more hub_models partitions first."
        )
    try:
        test_models = held_out_models(models, config.test_fraction, config.holdout, config.seed)
        photo = reals["origin"].fill_null(reals["image_id"]).str.split("#").list.first()
        groups = (reals["source"] + "/" + photo).to_list()
        test_groups = held_out_groups(groups, config.test_fraction, config.seed)
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    fake_rows = fakes.with_columns(
        pl.when(pl.col("source").is_in(list(test_models)))
        .then(pl.lit("test"))
        .otherwise(pl.lit("train"))
        .alias("split"),
        pl.col("created_at").alias("model_created_at"),
    ).select("image_id", "split", "label", "source", "architecture", "model_created_at", "path")
    real_rows = reals.with_columns(
        pl.Series("group", groups),
    ).with_columns(
        pl.when(pl.col("group").is_in(list(test_groups)))
        .then(pl.lit("test"))
        .otherwise(pl.lit("train"))
        .alias("split"),
        pl.lit(None, dtype=pl.Utf8).alias("architecture"),
    ).select("image_id", "split", "label", "source", "architecture", "path")
    rows = pl.concat([fake_rows, real_rows], how="diagonal_relaxed")
    warehouse.write("detector_splits", "all", rows)
    counts = rows.group_by("split", "label").len().sort("split", "label")
    return dg.MaterializeResult(
        metadata={
            "train_models": len(models) - len(test_models),
            "test_models": dg.MetadataValue.json(sorted(test_models)),
            "holdout": config.holdout,
            "counts": dg.MetadataValue.md(markdown(counts)),
        }
    )
