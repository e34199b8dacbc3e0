"""Downstream, unpartitioned: splits, detector training, evaluation, scaling study."""


from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg
import polars as pl

from fakeimg_assets.detection.splits import (
    ModelInfoForSplit,
    default_scaling_sizes,
    held_out_groups,
    held_out_models,
    nested_subsets,
    time_bucket,
)
from fakeimg_assets.warehouse.store import utcnow
from resources import ComputeResource, ImageStoreResource, WarehouseResource

if TYPE_CHECKING:  # train.py imports torch lazily, but keep the type checker informed
    from fakeimg_assets.detection.train import TrainResult

GROUP = "detector"


class DatasetConfig(dg.Config):
    """`holdout`: 'random' (seeded by model id) or 'latest' (most recently published)."""

    test_fraction: float = 0.34
    holdout: str = "random"
    seed: int = 0


class DetectorConfig(dg.Config):
    """Backbone from the registry; `None` fields take the backbone's defaults."""

    backbone: str = "tiny-resnet"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    image_size: int | None = None
    pretrained: bool | None = None
    seed: int = 0


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
            "counts": dg.MetadataValue.md(_markdown(counts)),
        }
    )


def _markdown(df: pl.DataFrame) -> str:
    header = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    return header + "\n".join("| " + " | ".join(str(v) for v in r) + " |" for r in df.rows())


def _train(
    samples: Sequence[tuple[str, int]],
    out_dir,
    backbone: str,
    compute: ComputeResource,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    image_size: int | None = None,
    pretrained: bool | None = None,
    seed: int = 0,
):
    from fakeimg_assets.detection.train import TrainConfig, train_detector

    compute.apply_threads()
    cfg = TrainConfig(
        backbone=backbone,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        image_size=image_size,
        pretrained=pretrained,
        seed=seed,
        device=compute.resolve_device(),
        num_threads=compute.torch_threads,
    )
    return train_detector(samples, out_dir, cfg)


def _samples(split: pl.DataFrame, image_store: ImageStoreResource) -> list[tuple[str, int]]:
    return [
        (str(image_store.absolute(p)), 1 if lbl == "fake" else 0)
        for p, lbl in zip(split["path"], split["label"], strict=True)
    ]


def _run_id(backbone: str, context: dg.AssetExecutionContext) -> str:
    return f"{backbone}-{utcnow():%Y%m%dT%H%M%S}-{context.run.run_id[:8]}"


@dg.asset(
    group_name=GROUP,
    deps=[detector_dataset],
    kinds={"pytorch", "timm", "safetensors"},
    pool="gpu",
    description="A timm detector trained on the training split; safetensors checkpoint.",
)
def detector(
    context: dg.AssetExecutionContext,
    config: DetectorConfig,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    from fakeimg_assets.detection.backbones import get_backbone

    try:
        get_backbone(config.backbone)
    except KeyError as exc:
        raise dg.Failure(str(exc.args[0])) from exc
    train = warehouse.query("SELECT * FROM detector_splits WHERE split = 'train' ORDER BY image_id")
    if train.height == 0:
        raise dg.Failure("empty training split: materialize detector_dataset first")
    run_id = _run_id(config.backbone, context)
    out_dir = image_store.home_dir() / "detectors" / run_id
    result = _train(
        _samples(train, image_store),
        out_dir,
        config.backbone,
        compute,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        image_size=config.image_size,
        pretrained=config.pretrained,
        seed=config.seed,
    )
    train_models = sorted(set(train.filter(pl.col("label") == "fake")["source"].to_list()))
    warehouse.write(
        "detector_runs",
        run_id,
        [_run_row(run_id, "main", config.backbone, train_models, result, context)],
    )
    last = result.history[-1] if result.history else {}
    return dg.MaterializeResult(
        metadata={
            "run_id": run_id,
            "checkpoint": str(result.checkpoint_dir),
            "n_train_images": result.n_train_images,
            "train_seconds": float(round(result.seconds, 2)),
            "final_loss": float(last.get("loss", float("nan"))),
        }
    )


def _run_row(
    run_id: str,
    purpose: str,
    backbone: str,
    train_models: list[str],
    result: "TrainResult",
    context: dg.AssetExecutionContext,
) -> dict:
    """One `detector_runs` row: what was trained on what, and where the checkpoint is."""
    return {
        "run_id": run_id,
        "purpose": purpose,
        "backbone": backbone,
        "n_train_models": len(train_models),
        "n_train_images": result.n_train_images,
        "n_train_real": result.n_real,
        "n_train_fake": result.n_fake,
        "train_models": list(train_models),
        "epochs": result.epochs,
        "seconds": result.seconds,
        "created_at": utcnow(),
        "checkpoint_path": str(result.checkpoint_dir),
        "dagster_run_id": context.run.run_id,
    }


def evaluation_rows(run_id: str, frame: pl.DataFrame) -> list[dict]:
    """Metric rows of one run: test overall, per model, architecture and time bucket.

    `frame` holds split, label, source, architecture, model_created_at and score. Per-group
    rows pair that group's fakes with every real of the same split.
    """
    from fakeimg_assets.detection.metrics import binary_metrics

    now = utcnow()
    frame = frame.with_columns(
        pl.col("model_created_at")
        .map_elements(time_bucket, return_dtype=pl.Utf8)
        .alias("time_bucket")
    )
    rows = []

    def add(split: str, kind: str, value: str, part: pl.DataFrame) -> None:
        labels = [1 if lbl == "fake" else 0 for lbl in part["label"]]
        m = binary_metrics(labels, part["score"].to_list())
        rows.append(
            {
                "run_id": run_id,
                "split": split,
                "group_kind": kind,
                "group_value": value,
                "n_real": m["n_real"],
                "n_fake": m["n_fake"],
                "ap": m["ap"],
                "accuracy": m["accuracy"],
                "auc": m["auc"],
                "evaluated_at": now,
            }
        )

    for split in sorted(set(frame["split"].to_list())):
        part = frame.filter(pl.col("split") == split)
        add(split, "overall", "all", part)
        if split != "test":
            continue
        real = part.filter(pl.col("label") == "real")
        fake = part.filter(pl.col("label") == "fake")
        for kind in ("source", "architecture", "time_bucket"):
            for value in sorted(v for v in set(fake[kind].to_list()) if v is not None):
                group = pl.concat([real, fake.filter(pl.col(kind) == value)])
                add(split, "model" if kind == "source" else kind, str(value), group)
    return rows


@dg.asset(
    group_name=GROUP,
    deps=[detector],
    kinds={"pytorch", "duckdb"},
    description="AP, accuracy and AUC of the latest detector on held-out generators.",
)
def detector_evaluation(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    from fakeimg_assets.detection.train import predict

    runs = warehouse.query(
        "SELECT run_id, checkpoint_path FROM detector_runs WHERE purpose = 'main' "
        "ORDER BY created_at DESC LIMIT 1"
    )
    if runs.height == 0:
        raise dg.Failure("no trained detector: materialize detector first")
    run_id, ckpt = runs.row(0)
    splits = warehouse.query("SELECT * FROM detector_splits ORDER BY image_id")
    compute.apply_threads()
    scores = predict(
        ckpt,
        [str(image_store.absolute(p)) for p in splits["path"]],
        device=compute.resolve_device(),
    )
    frame = splits.with_columns(pl.Series("score", [float(s) for s in scores]))
    rows = evaluation_rows(run_id, frame)
    warehouse.write("eval_results", run_id, rows)
    overall = next(r for r in rows if r["split"] == "test" and r["group_kind"] == "overall")
    per_model = [r for r in rows if r["group_kind"] == "model"]
    return dg.MaterializeResult(
        metadata={
            "run_id": run_id,
            "test_ap": _num(overall["ap"]),
            "test_accuracy": _num(overall["accuracy"]),
            "test_auc": _num(overall["auc"]),
            "held_out_models": len(per_model),
            "per_model": dg.MetadataValue.md(
                _markdown(
                    pl.DataFrame(per_model).select("group_value", "n_fake", "ap", "accuracy")
                )
                if per_model
                else "_none_"
            ),
        }
    )


def _num(v: float | None) -> float:
    return float("nan") if v is None else float(v)


@dg.asset(
    group_name=GROUP,
    deps=[detector_dataset],
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
        res = _train(
            _samples(pl.concat([reals, fakes]), image_store),
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
        run_rows.append(_run_row(run_id, "scaling", config.backbone, chosen, res, context))
        context.log.info(f"scaling k={k}: AP={m['ap']} acc={m['accuracy']:.3f}")
    warehouse.write("detector_runs", study_id, run_rows)
    warehouse.write("scaling_results", study_id, results)
    return dg.MaterializeResult(
        metadata={
            "study_id": study_id,
            "fake_images_per_run": budget,
            "curve": dg.MetadataValue.md(
                _markdown(pl.DataFrame(results).select("n_train_models", "ap", "accuracy"))
            ),
        }
    )


def _fixed_budget(train_fake: pl.DataFrame, chosen: list[str], budget: int, seed: int) -> pl.DataFrame:
    """`budget` fakes spread as evenly as possible over the chosen models (seeded)."""
    part = train_fake.filter(pl.col("source").is_in(chosen)).sort("image_id")
    part = part.sample(fraction=1.0, shuffle=True, seed=seed)
    part = part.with_columns(pl.int_range(pl.len()).over("source").alias("_rank"))
    return part.sort("_rank", "source", "image_id").head(budget).drop("_rank")
