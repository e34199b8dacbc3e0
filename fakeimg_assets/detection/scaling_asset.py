"""`scaling_study`: held-out AP vs number of training generators, images fixed."""

import dagster as dg
import polars as pl

from fakeimg_assets.detection.common import (
    GROUP,
    markdown,
    run_row,
    samples_of,
    train_on,
)
from fakeimg_assets.detection.splits import default_scaling_sizes, nested_subsets
from fakeimg_assets.warehouse.store import utcnow
from resources import ComputeResource, ImageStoreResource, WarehouseResource


class ScalingConfig(dg.Config):
    """Accuracy vs number of training generators, fake-image count held fixed.

    `sizes` empty means 1, 2, 4, ... up to every training model; `fake_images` 0 means the
    largest budget every size can meet (the images of one model).
    """

    sizes: list[int] = []
    fake_images: int = 0
    backbone: str = "tiny-resnet"
    epochs: int | None = None
    seed: int = 0


@dg.asset(
    group_name=GROUP,
    deps=["detector_dataset"],
    kinds={"pytorch", "timm", "duckdb"},
    pool="gpu",
    description="Scaling study: held-out AP vs number of training generators, images fixed.",
)
def scaling_study(
    context: dg.AssetExecutionContext,
    config: ScalingConfig,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    from fakeimg_assets.detection.metrics import binary_metrics
    from fakeimg_assets.detection.train import predict

    splits = warehouse.query("SELECT * FROM detector_splits ORDER BY image_id")
    train = splits.filter(pl.col("split") == "train")
    test = splits.filter(pl.col("split") == "test")
    train_fake = train.filter(pl.col("label") == "fake")
    models = sorted(set(train_fake["source"].to_list()))
    if not models or test.height == 0:
        raise dg.Failure("detector_splits has no training models or no test images")
    per_model = train_fake.group_by("source").len()
    min_per_model = int(per_model["len"].min())
    budget = config.fake_images or min_per_model
    sizes = sorted(set(config.sizes)) if config.sizes else default_scaling_sizes(len(models))
    try:
        subsets = nested_subsets(models, sizes, config.seed)
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    study_id = f"scaling-{utcnow():%Y%m%dT%H%M%S}-{context.run.run_id[:8]}"
    reals = train.filter(pl.col("label") == "real")
    test_paths = [str(image_store.absolute(p)) for p in test["path"]]
    test_labels = [1 if lbl == "fake" else 0 for lbl in test["label"]]
    results, run_rows = [], []
    for k, chosen in subsets.items():
        fakes = _fixed_budget(train_fake, chosen, budget, config.seed)
        if fakes.height < budget:
            raise dg.Failure(
                f"{k} training models hold only {fakes.height} fake images, budget is {budget}"
            )
        run_id = f"{study_id}-k{k}"
        res = train_on(
            samples_of(pl.concat([reals, fakes]), image_store),
            image_store.home_dir() / "detectors" / run_id,
            config.backbone,
            compute,
            epochs=config.epochs,
            seed=config.seed,
        )
        scores = predict(res.checkpoint_dir, test_paths, device=compute.resolve_device())
        m = binary_metrics(test_labels, [float(s) for s in scores])
        results.append(
            {
                "study_id": study_id,
                "run_id": run_id,
                "n_train_models": k,
                "n_train_images": res.n_train_images,
                "ap": m["ap"],
                "accuracy": m["accuracy"],
                "auc": m["auc"],
                "created_at": utcnow(),
            }
        )
        run_rows.append(run_row(run_id, "scaling", config.backbone, chosen, res, context))
        context.log.info(f"scaling k={k}: AP={m['ap']} acc={m['accuracy']:.3f}")
    warehouse.write("detector_runs", study_id, run_rows)
    warehouse.write("scaling_results", study_id, results)
    return dg.MaterializeResult(
        metadata={
            "study_id": study_id,
            "fake_images_per_run": budget,
            "curve": dg.MetadataValue.md(
                markdown(pl.DataFrame(results).select("n_train_models", "ap", "accuracy"))
            ),
        }
    )


def _fixed_budget(train_fake: pl.DataFrame, chosen: list[str], budget: int, seed: int) -> pl.DataFrame:
    """`budget` fakes spread as evenly as possible over the chosen models (seeded)."""
    part = train_fake.filter(pl.col("source").is_in(chosen)).sort("image_id")
    part = part.sample(fraction=1.0, shuffle=True, seed=seed)
    part = part.with_columns(pl.int_range(pl.len()).over("source").alias("_rank"))
    return part.sort("_rank", "source", "image_id").head(budget).drop("_rank")
