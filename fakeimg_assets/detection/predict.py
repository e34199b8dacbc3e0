"""Reload a detector checkpoint (safetensors + JSON, no pickle) and score images with it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fakeimg_assets.detection.checkpoint import CONFIG_FILE, MODEL_FILE, sha256_file
from fakeimg_assets.detection.data import DecodedImages, ImageDataset, check_files_exist
from fakeimg_assets.detection.pooling import with_layout_max_pool

if TYPE_CHECKING:
    import torch

FORMAT_VERSION = 1


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count, restoring it afterwards.

    On a busy CPU, OpenMP threads that spin-wait for a core collapse throughput (measured
    10-30x slower with 2 threads than 1 on a shared 2-core box), so callers sharing a machine
    can pin the count per call without changing the process-wide default for others.
    """
    import torch

    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def memory_format(device: str):  # -> torch.memory_format
    """NHWC is what cuDNN prefers; on CPU plain layout keeps results bit-reproducible."""
    import torch

    return torch.channels_last if str(device).startswith("cuda") else torch.contiguous_format


def load_detector(
    checkpoint_dir: Path, device: str = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model from detector_config.json and load safetensors weights (no pickle).

    The sha256 recorded at save time is checked so a torn or swapped weights file is refused.
    """
    import timm
    from safetensors.torch import load_file

    checkpoint_dir = Path(checkpoint_dir)
    config_path = checkpoint_dir / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"no {CONFIG_FILE} in {checkpoint_dir} (incomplete checkpoint?)")
    config = json.loads(config_path.read_text())
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"unsupported checkpoint format {config.get('format_version')!r}")
    model_path = checkpoint_dir / config.get("model_file", MODEL_FILE)
    if not model_path.is_file():
        raise FileNotFoundError(f"missing weights file {model_path}")
    expected = config.get("model_sha256")
    if expected and sha256_file(model_path) != expected:
        raise ValueError(f"{model_path} does not match the sha256 in {CONFIG_FILE}")
    model = timm.create_model(
        config["timm_name"], pretrained=False, num_classes=1, **config.get("model_kwargs", {})
    )
    model.load_state_dict(load_file(str(model_path), device="cpu"), strict=True)
    with_layout_max_pool(model)  # the same scores, faster on CPU (detection/pooling.py)
    model.to(device=device, memory_format=memory_format(device)).eval()
    return model, config


def predict_with_model(
    model: torch.nn.Module,
    config: dict[str, Any],
    paths: Sequence[str | Path],
    *,
    device: str = "cpu",
    batch_size: int = 64,
    num_threads: int | None = None,
    decoded: DecodedImages | None = None,
) -> np.ndarray:
    """P(fake) per path for an already loaded model (avoids reloading in loops); `decoded`
    keeps the transformed inputs for the next call (a study scores the same images with
    every run's detector)."""
    import torch
    from torch.utils.data import DataLoader

    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    path_list = [Path(p) for p in paths]
    if not path_list:
        return np.zeros(0, dtype=np.float32)
    check_files_exist(path_list)
    dataset = ImageDataset(
        path_list,
        None,
        int(config["image_size"]),
        config["mean"],
        config["std"],
        train=False,
        resize_size=config.get("resize_size", int(config["image_size"])),  # pre-recipe: none
        decoded=decoded,
    )
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    model.eval()
    out: list[np.ndarray] = []
    with torch_threads(num_threads), torch.inference_mode():
        for x in loader:
            x = x.to(device, memory_format=memory_format(device))
            logits = model(x).float().squeeze(1)
            out.append(torch.sigmoid(logits).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def predict(
    checkpoint_dir: Path,
    paths: Sequence[str | Path],
    *,
    device: str = "cpu",
    batch_size: int = 64,
    num_threads: int | None = None,
    decoded: DecodedImages | None = None,
) -> np.ndarray:
    """Sigmoid probability of "fake" for each path, with the checkpoint's eval transform."""
    check_files_exist([Path(p) for p in paths])  # before the (slower) model load
    model, config = load_detector(checkpoint_dir, device=device)
    return predict_with_model(
        model, config, paths, device=device, batch_size=batch_size, num_threads=num_threads,
        decoded=decoded,
    )
