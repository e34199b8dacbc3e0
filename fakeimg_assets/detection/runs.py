"""Helpers shared by the detector assets: configs' group name, training call, run rows."""

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import polars as pl

from fakeimg_assets.detection.backbones import get_backbone, pretrained_source
from fakeimg_assets.detection.train import TrainConfig, train_detector
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.sampling.execute import resolve_device
from resources import ComputeResource, HubResource, ImageStoreResource

if TYPE_CHECKING:  # train.py imports torch lazily, but keep the type checker informed
    from fakeimg_assets.detection.data import DecodedImages
    from fakeimg_assets.detection.train import TrainResult

GROUP = "detector"


def resume_dir(samples: Sequence[tuple], out_dir, **knobs) -> Path:
    """Where a training run keeps its per-epoch state: keyed by its data and settings, not
    by run id, so a retried Dagster run (new run id) resumes what a killed one left."""
    payload = json.dumps([[list(map(str, s)) for s in samples], knobs], sort_keys=True, default=str)
    return Path(out_dir).parent / ".resume" / hashlib.sha256(payload.encode()).hexdigest()[:24]


def train_on(
    samples: Sequence[tuple],
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
    hub: HubResource | None = None,
    log: Callable[[str], None] | None = None,
    decoded: "DecodedImages | None" = None,
):
    """Train one detector; a pretrained backbone's weights come through `hub`'s verified
    client first (`backbones.pretrained_source`). `log` (a run's `context.log.info`) hears
    the rate and ETA lines (`train.train_detector`'s `on_progress`)."""

    compute.apply_threads()
    weights = None
    source = pretrained_source(backbone) if pretrained is not False else None
    if source is not None and (pretrained or get_backbone(backbone).pretrained):
        if hub is None:
            raise ValueError(f"backbone {backbone!r} needs pretrained weights: pass the hub")
        weights = str(hub.pretrained_weights(*source))
    with compute.bound_device(holder=f"training {Path(out_dir).name}") as device:
        cfg = TrainConfig(
            backbone=backbone,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            image_size=image_size,
            pretrained=pretrained,
            pretrained_file=weights,
            seed=seed,
            device=resolve_device(device),
            num_threads=compute.threads(),
        )
        work = resume_dir(samples, out_dir, backbone=backbone, epochs=epochs,
                          batch_size=batch_size, lr=lr, image_size=image_size,
                          pretrained=pretrained, seed=seed,
                          device=cfg.device.split(":")[0])  # any free GPU resumes it

        return train_detector(samples, out_dir, cfg, work_dir=work, on_progress=log,
                              decoded=decoded)


def samples_of(split: pl.DataFrame, image_store: ImageStoreResource) -> list[tuple[str, int, str]]:
    """(absolute path, label, source): the source spreads real subsampling over datasets."""
    home = image_store.home_dir()  # resolved once: a study asks for thousands of paths
    return [
        (str(home / p), 1 if lbl == "fake" else 0, str(src))
        for p, lbl, src in zip(split["path"], split["label"], split["source"], strict=True)
    ]


def new_run_id(backbone: str, context: dg.AssetExecutionContext) -> str:
    return f"{backbone}-{utcnow():%Y%m%dT%H%M%S}-{context.run.run_id[:8]}"


def run_row(
    run_id: str,
    purpose: str,
    backbone: str,
    train_models: list[str],
    result: "TrainResult",
    context: dg.AssetExecutionContext,
    *,
    split_id: str | None = None,
) -> dict:
    """One `detector_runs` row: what was trained on which split with which recipe, and where
    the checkpoint is."""
    return {
        "run_id": run_id,
        "purpose": purpose,
        "split_id": split_id,
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
        "timm_dir": None if result.timm_dir is None else str(result.timm_dir),
        "dagster_run_id": context.run.run_id,
        "recipe": result.config.get("recipe", {}).get("name", backbone),
        "seed": result.config.get("train_config", {}).get("seed"),
        "resumed_from_epoch": result.resumed_from_epoch,
    }


def num(v: float | None) -> float:
    return float("nan") if v is None else float(v)
