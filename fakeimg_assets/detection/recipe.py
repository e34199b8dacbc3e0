"""Training configuration: what a run asks for, resolved against its recipe (backbone spec).

Resolution fills every `None` from the registered recipe and checks ranges before any
expensive work; the resolved config plus the exact sample list make the fingerprint a
saved training state must match to be resumed.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fakeimg_assets.detection.augment import AUGMENTATIONS, resize_size_for
from fakeimg_assets.detection.backbones import BackboneSpec

LABEL_CONVENTION = {
    "0": "real",
    "1": "fake",
    "output": "one logit per image; sigmoid(logit) = probability the image is fake",
}


@dataclass
class TrainConfig:
    """Training knobs; `None` means the recipe's (backbone spec's) default."""

    backbone: str
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    warmup_fraction: float | None = None
    seed: int = 0
    image_size: int | None = None
    device: str = "cpu"
    amp: bool = True  # mixed precision; only takes effect on CUDA
    num_workers: int = 0
    pretrained: bool | None = None
    pretrained_file: str | None = None  # the verified weights a pretrained backbone starts from
    augment: bool = True  # the recipe's op mix; off only for ablations
    balance_reals: bool | None = None
    # NHWC: faster CNN steps, but oneDNN then picks kernels by process history and same-seed
    # runs stop being bit-identical; None = on for CUDA, off for CPU.
    channels_last: bool | None = None
    num_threads: int | None = None  # torch intra-op threads during this call; None = unchanged


@dataclass
class TrainResult:
    """What a training run produced; `config` is the written detector_config.json."""

    checkpoint_dir: Path
    n_train_images: int
    n_real: int
    n_fake: int
    epochs: int
    history: list[dict[str, Any]]
    seconds: float
    config: dict[str, Any] = field(default_factory=dict)
    resumed_from_epoch: int = 0
    timm_dir: Path | None = None  # the same detector as a timm folder (detection/timm_folder.py)


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value


def resolve(config: TrainConfig, spec: BackboneSpec) -> TrainConfig:
    """Fill `None` fields from the spec and check ranges, before any expensive work."""
    r = TrainConfig(**asdict(config))
    r.backbone = spec.name
    r.epochs = _pick(config.epochs, spec.epochs)
    r.batch_size = _pick(config.batch_size, spec.batch_size)
    r.lr = _pick(config.lr, spec.lr)
    r.weight_decay = _pick(config.weight_decay, spec.weight_decay)
    r.warmup_fraction = _pick(config.warmup_fraction, spec.warmup_fraction)
    r.image_size = _pick(config.image_size, spec.image_size)
    r.pretrained = _pick(config.pretrained, spec.pretrained)
    r.balance_reals = _pick(config.balance_reals, spec.balance_reals)
    r.channels_last = _pick(config.channels_last, config.device.startswith("cuda"))
    if r.epochs <= 0 or r.batch_size <= 0 or r.image_size <= 0:
        raise ValueError("epochs, batch_size and image_size must be positive")
    if r.lr <= 0 or r.weight_decay < 0:
        raise ValueError("lr must be > 0 and weight_decay >= 0")
    if not 0.0 <= r.warmup_fraction < 1.0:
        raise ValueError(f"warmup_fraction must be in [0, 1), got {r.warmup_fraction}")
    if r.seed < 0:
        raise ValueError(f"seed must be >= 0, got {r.seed}")
    if r.num_threads is not None and r.num_threads <= 0:
        raise ValueError(f"num_threads must be positive, got {r.num_threads}")
    if r.num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {r.num_workers}")
    return r


def recipe_of(spec: BackboneSpec, cfg: TrainConfig) -> dict[str, Any]:
    """The knobs that are not in TrainConfig, as this run used them (stored in the config)."""
    crop = int(cfg.image_size or spec.image_size)
    resize = spec.resize_size if crop == spec.image_size and spec.resize_size else None

    return {
        "name": spec.name,
        "resize_size": resize or resize_size_for(crop),
        "crop_size": crop,
        "min_lr_factor": spec.min_lr_factor,
        "grad_clip": spec.grad_clip,
        "amp_dtype": spec.amp_dtype,
        "mean": list(spec.mean),
        "std": list(spec.std),
        "augmentations": list(AUGMENTATIONS) if cfg.augment else [],
        "op_count_range": list(spec.op_count_range) if cfg.augment else [0, 0],
        "decay_all_params": spec.decay_all_params,
        "loss": "BCEWithLogitsLoss",
        "optimizer": "AdamW",
    }


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_factor: float = 0.0) -> float:
    """Linear warm-up to 1 over `warmup_steps`, then cosine from 1 to `min_factor`."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def param_groups(model, weight_decay: float, decay_all: bool) -> list[dict[str, Any]]:
    """All parameters decayed (official), or none on biases/norms (timm's habit)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if decay_all:
        return [{"params": params, "weight_decay": weight_decay}]
    return [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]


def check_input_size(model, image_size: int) -> None:
    """ViTs built for one resolution fail obscurely on another; say so up front."""
    pe = getattr(model, "patch_embed", None)
    img_size = getattr(pe, "img_size", None)
    if img_size is None or not getattr(pe, "strict_img_size", False):
        return
    if tuple(img_size) != (image_size, image_size):
        raise ValueError(
            f"backbone expects {tuple(img_size)} inputs but image_size={image_size}; "
            "register a spec with model_kwargs={'img_size': ...} instead"
        )


def library_versions() -> dict[str, str]:
    import timm
    import torch
    import torchvision

    return {
        "torch": torch.__version__,
        "timm": timm.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
    }


def fingerprint(cfg: TrainConfig, samples: Sequence[tuple[Path, int, str]]) -> str:
    """What a saved training state must match to be resumed: config and exact data."""
    knobs = {k: v for k, v in asdict(cfg).items() if k not in ("num_threads", "num_workers")}
    knobs["device"] = str(knobs["device"]).split(":")[0]  # resumes on any GPU of the machine
    payload = json.dumps([knobs, [(str(p), lbl) for p, lbl, _ in samples]], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]
