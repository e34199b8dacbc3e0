"""Train/eval transforms of the Community Forensics recipe (PIL + numpy; torch only for output).

Mirrors the official code (JeongsooP/Community-Forensics, `dataloader.get_transform` and
`custom_transforms.RandomStateAugmentation`): train = Resize(R) -> for each of 11 ops draw a
count in [0, 2] and apply the drawn ops in random order -> RandomCrop(C); eval = Resize(R) ->
CenterCrop(C); ImageNet mean/std. (R, C) = (440, 384) for the paper's ViT; smaller recipes
scale both. Every random choice comes from an rng passed in, and `sample_rng(seed, epoch,
index)` derives one per sample, so training is reproducible whatever the worker count.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from fakeimg_assets.detection.augment_ops import (
    AUGMENTATIONS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    OP_COUNT_RANGE,
    OPS,
    center_crop,
    random_crop,
    resize_shorter,
    resize_size_for,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "AUGMENTATIONS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "OPS",
    "OP_COUNT_RANGE",
    "center_crop",
    "eval_transform",
    "random_augment",
    "random_crop",
    "resize_shorter",
    "resize_size_for",
    "sample_rng",
    "to_tensor",
    "train_transform",
]

Rng = np.random.Generator | random.Random


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """Independent, reproducible generator for one (seed, epoch, sample index)."""
    if seed < 0 or epoch < 0 or index < 0:
        raise ValueError(f"seed, epoch and index must be >= 0, got {(seed, epoch, index)}")
    return np.random.default_rng([seed, epoch, index])


def _as_generator(rng: Rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, random.Random):
        return np.random.default_rng(rng.getrandbits(64))
    raise TypeError(f"rng must be numpy Generator or random.Random, got {type(rng).__name__}")


def random_augment(
    image: Image.Image,
    rng: Rng,
    *,
    crop_size: int,
    count_range: tuple[int, int] = OP_COUNT_RANGE,
    ops: Sequence[str] = AUGMENTATIONS,
) -> tuple[Image.Image, list[str]]:
    """RandomStateAugmentation: each op drawn 0-2 times, all applied in random order.

    Returns the image and the op names in the order applied.
    """
    unknown = [op for op in ops if op not in OPS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; known: {list(OPS)}")
    lo, hi = count_range
    if not 0 <= lo <= hi:
        raise ValueError(f"op count range must satisfy 0 <= min <= max, got {count_range}")
    gen = _as_generator(rng)
    image = image.convert("RGB")
    todo = [name for name in ops for _ in range(int(gen.integers(lo, hi + 1)))]
    applied = [todo[i] for i in gen.permutation(len(todo))] if todo else []
    for name in applied:
        image = OPS[name](image, gen, crop_size)
    return image, applied


def to_tensor(
    image: Image.Image,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> torch.Tensor:
    """CHW float32 tensor, scaled to [0, 1] then normalised per channel."""
    import torch

    arr = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    arr = (arr - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def _check_size(image_size: int) -> None:
    if image_size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")


def train_transform(
    image_size: int,
    rng: Rng,
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    resize_size: int | None = None,
    count_range: tuple[int, int] = OP_COUNT_RANGE,
) -> Callable[[Image.Image], torch.Tensor]:
    """Callable: Resize(R), the random op mix, RandomCrop(C), normalise.

    `count_range=(0, 0)` turns augmentation off (ablations). All randomness comes from `rng`.
    """
    _check_size(image_size)
    resize_to = resize_size or resize_size_for(image_size)
    if resize_to < image_size:
        raise ValueError(f"resize_size {resize_to} is smaller than the crop {image_size}")
    gen = _as_generator(rng)

    def apply(image: Image.Image) -> torch.Tensor:
        out = resize_shorter(image.convert("RGB"), resize_to)
        out, _ = random_augment(out, gen, crop_size=image_size, count_range=count_range)
        return to_tensor(random_crop(out, gen, image_size), mean, std)

    return apply


def eval_transform(
    image_size: int,
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    resize_size: int | None = None,
) -> Callable[[Image.Image], torch.Tensor]:
    """Callable: Resize(R) then CenterCrop(C), normalise (deterministic)."""
    _check_size(image_size)
    resize_to = resize_size or resize_size_for(image_size)

    def apply(image: Image.Image) -> torch.Tensor:
        out = center_crop(resize_shorter(image.convert("RGB"), resize_to), image_size)
        return to_tensor(out, mean, std)

    return apply
