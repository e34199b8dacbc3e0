"""`detector`: a timm detector trained on the training split."""

import dagster as dg
import polars as pl

from fakeimg_assets.detection.backbones import get_backbone
from fakeimg_assets.detection.runs import (
    GROUP,
    new_run_id,
    run_row,
    samples_of,
    train_on,
)
from fakeimg_assets.lib.metadata_table import readable
from fakeimg_assets.splits.store import read_split
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import ComputeResource, HubResource, ImageStoreResource, WarehouseResource

CODE_VERSION = "1"  # bump when a change alters what this asset writes (marks it stale)


class DetectorConfig(dg.Config):
    """Recipe (backbone) from the registry; `None` fields take the recipe's defaults."""

    backbone: str = "tiny-resnet"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    image_size: int | None = None
    pretrained: bool | None = None
    seed: int = 0


@dg.asset(
    group_name=GROUP,
    deps=["detector_dataset", "shortcut_audit"],
    kinds={"pytorch", "timm", "safetensors"},
    pool="gpu",
    code_version=CODE_VERSION,
    metadata=table_metadata("trained_detectors"),  # one row per run (detector_runs view)
    description="A timm detector trained on the training split; safetensors checkpoint.",
)
def detector(
    context: dg.AssetExecutionContext,
    config: DetectorConfig,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
    compute: ComputeResource,
    hub: HubResource,
) -> dg.MaterializeResult:

    try:
        get_backbone(config.backbone)
    except KeyError as exc:
        raise dg.Failure(str(exc.args[0])) from exc
    try:  # the latest split version; the run records its split_id
        split_id, split = read_split(warehouse)
    except LookupError as exc:
        raise dg.Failure(str(exc)) from exc
    train = split.filter(pl.col("split") == "train")
    if train.height == 0:
        raise dg.Failure("empty training split: materialize detector_dataset first")
    run_id = new_run_id(config.backbone, context)
    out_dir = image_store.home_dir() / "detectors" / run_id
    result = train_on(
        samples_of(train, image_store),
        out_dir,
        config.backbone,
        compute,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        image_size=config.image_size,
        pretrained=config.pretrained,
        seed=config.seed,
        hub=hub,
    )
    train_models = sorted(set(train.filter(pl.col("label") == "fake")["source"].to_list()))
    warehouse.write(
        "trained_detectors",
        run_id,
        [run_row(run_id, "main", config.backbone, train_models, result, context,
                 split_id=split_id)],  # fmt: skip
    )
    last = result.history[-1] if result.history else {}
    return dg.MaterializeResult(
        metadata={
            "run_id": run_id,
            "split_id": split_id,
            "checkpoint": str(result.checkpoint_dir),
            "n_train_images": result.n_train_images,
            "recipe": config.backbone,
            "resumed_from_epoch": result.resumed_from_epoch,
            "n_train_real": result.n_real,
            "n_train_fake": result.n_fake,
            "train_seconds": float(round(result.seconds, 2)),
            "final_loss": readable(float(last.get("loss", float("nan")))),
            **row_count(1),
        }
    )
