"""The timm folder of a trained detector: what others load with `timm.create_model`.

Beside every checkpoint (`<checkpoint>/timm/`): `config.json` in timm's own layout
(`architecture`, `num_classes` = 1, `model_args` for a backbone built with extra kwargs,
`pretrained_cfg`) and `model.safetensors` (the checkpoint's weights file, hard-linked where
the filesystem allows, else copied). `timm.create_model("local-dir:<folder>",
pretrained=True)` rebuilds the detector; its single logit through a sigmoid is P(fake).

`pretrained_cfg` makes timm's own eval transform (`timm.data.resolve_data_config(model=m)`
then `timm.data.create_transform(**cfg)`) the platform's, bit for bit: Resize(R) of the
shorter side (bilinear) then CenterCrop(C), ImageNet mean/std, with `crop_pct` = C / R
(nudged down by ulps where floating point would make timm's `floor(C / crop_pct)` R - 1).
tests/detection/test_timm_folder.py checks the scores are identical.

The folder is built under a temp name and renamed into place, so it exists whole or not at
all. `check_weights_fit` refuses a folder (ours or anyone's) whose `config.json` builds
another model than its weights hold, before any real allocation. torch/timm are imported
inside the functions that need them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from fakeimg_assets.detection.checkpoint import CONFIG_FILE, MODEL_FILE, sha256_file
from fakeimg_assets.lib.leftovers import writer_id

TIMM_DIR = "timm"  # the folder's name inside a checkpoint folder
TIMM_CONFIG = "config.json"
LABEL_NAMES = ["fake"]  # one logit: sigmoid(logit) = P(fake)


def crop_pct_for(image_size: int, resize_size: int) -> float:
    """The `crop_pct` for which timm resizes to exactly `resize_size` before the crop."""
    if image_size <= 0 or resize_size < image_size:
        raise ValueError(f"need 0 < image_size <= resize_size, got {image_size}, {resize_size}")
    pct = image_size / resize_size
    while math.floor(image_size / pct) < resize_size:
        pct = math.nextafter(pct, 0.0)
    if math.floor(image_size / pct) != resize_size:  # cannot happen for integer sizes
        raise ValueError(f"no crop_pct maps {image_size} to a {resize_size} resize")
    return pct


def fixed_input_size(timm_name: str) -> bool:
    """timm's own flag for the architecture: True when it takes an `img_size` argument
    (ViTs); a wrong True makes timm pass `img_size` to a CNN, which refuses it."""
    import timm

    cfg = timm.models.get_pretrained_cfg(timm_name)
    return bool(getattr(cfg, "fixed_input_size", False)) if cfg is not None else False


def timm_config(detector_config: dict[str, Any], *, run_id: str | None = None) -> dict[str, Any]:
    """timm's `config.json` for a checkpoint's `detector_config.json` content."""
    timm_name = str(detector_config["timm_name"])
    architecture = timm_name.split(".", 1)[0]  # `resnet50.a1_in1k` -> `resnet50`
    size = int(detector_config["image_size"])
    resize = int(detector_config.get("resize_size") or size)  # pre-recipe checkpoints: none
    pretrained_cfg = {
        "architecture": architecture,
        "input_size": [3, size, size],
        "fixed_input_size": fixed_input_size(timm_name),
        "interpolation": "bilinear",
        "crop_pct": crop_pct_for(size, resize),
        "crop_mode": "center",
        "mean": list(detector_config["mean"]),
        "std": list(detector_config["std"]),
        "num_classes": 1,
        "label_names": LABEL_NAMES,
    }
    config: dict[str, Any] = {
        "architecture": architecture,
        "num_classes": 1,
        "label_names": LABEL_NAMES,
        "pretrained_cfg": pretrained_cfg,
    }
    if detector_config.get("model_kwargs"):
        config["model_args"] = dict(detector_config["model_kwargs"])
    # not read by timm: what the detector is, for people
    config["fakeimg"] = {
        "run_id": run_id,
        "backbone": detector_config.get("backbone"),
        "timm_name": timm_name,
        "output": "one logit; sigmoid(logit) = P(fake); label 'fake' if P >= 0.5",
        "eval_transform": f"resize shorter side to {resize} (bilinear), center crop {size}, "
        "ImageNet mean/std",
        "weights_sha256": detector_config.get("model_sha256"),
    }
    return config


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def write_timm_folder(checkpoint_dir: Path | str, out_dir: Path | str | None = None, *,
                      run_id: str | None = None) -> Path:
    """Write the timm folder of a platform checkpoint (default `<checkpoint>/timm`).

    Refuses a checkpoint whose weights do not match the sha256 its config records. An
    existing folder is replaced whole (temp folder, then rename).
    """
    checkpoint_dir = Path(checkpoint_dir)
    config_path = checkpoint_dir / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"no {CONFIG_FILE} in {checkpoint_dir}: not a detector checkpoint")
    detector_config = json.loads(config_path.read_text())
    weights = checkpoint_dir / detector_config.get("model_file", MODEL_FILE)
    expected = detector_config.get("model_sha256")
    if not weights.is_file():
        raise FileNotFoundError(f"missing weights file {weights}")
    if expected and sha256_file(weights) != expected:
        raise ValueError(f"{weights} does not match the sha256 in {config_path}")
    out = Path(out_dir) if out_dir is not None else checkpoint_dir / TIMM_DIR
    config = timm_config(detector_config, run_id=run_id)
    tmp = out.with_name(f".{out.name}.{writer_id()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _link_or_copy(weights, tmp / MODEL_FILE)
        (tmp / TIMM_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
        old = out.with_name(f".{out.name}.{writer_id()}.old")
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def check_weights_fit(folder: Path) -> None:
    """The model `config.json` builds (on the meta device: no memory) has exactly the
    tensors of `model.safetensors`, by name and shape."""
    import timm
    import torch
    from safetensors import safe_open

    with safe_open(str(folder / MODEL_FILE), framework="pt") as f:
        have = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    try:
        with torch.device("meta"):
            model = timm.create_model(f"local-dir:{folder.resolve()}", pretrained=False)
    except Exception as exc:  # noqa: BLE001 - any config timm cannot build is refused
        raise ValueError(f"{folder / TIMM_CONFIG}: timm cannot build it ({exc})") from None
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if want != have:
        diff = sorted(set(want.items()) ^ set(have.items()))[:3]
        raise ValueError(f"{folder}: model.safetensors does not fit the architecture "
                         f"config.json builds (first differences: {diff})")


def is_timm_folder(path: Path | str) -> bool:
    """A folder timm's `local-dir:` loader reads, with safetensors weights."""
    path = Path(path)
    return (path / TIMM_CONFIG).is_file() and (path / MODEL_FILE).is_file()


def is_checkpoint_folder(path: Path | str) -> bool:
    """A platform checkpoint folder (`detector_config.json` + weights)."""
    return (Path(path) / CONFIG_FILE).is_file()
