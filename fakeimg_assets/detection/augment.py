"""Train/eval image transforms for fake-image detectors (PIL + numpy, torch only for output).

Following Community Forensics, training draws 0-2 post-processing ops per image (JPEG
re-compression, resize with a random filter, crop, flip, rotation, translation, cutout) so the
detector cannot rely on pristine generator pixels that vanish once an image is shared online.
Test time is just resize + center crop. Every random choice comes from an rng passed in, and
`sample_rng(seed, epoch, index)` derives it per sample, so training is reproducible regardless
of DataLoader worker count or scheduling.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

AUGMENTATIONS: tuple[str, ...] = (
    "jpeg",
    "resize",
    "crop",
    "flip",
    "rotate",
    "translate",
    "cutout",
)

JPEG_QUALITY_RANGE = (30, 100)  # inclusive
RESIZE_SCALE_RANGE = (0.5, 1.5)
CROP_AREA_RANGE = (0.3, 1.0)
ROTATE_MAX_DEGREES = 30.0
TRANSLATE_MAX_FRACTION = 0.1
CUTOUT_SIDE_RANGE = (0.1, 0.4)  # fraction of each side
MIN_SIDE = 8

_INTERPOLATIONS: tuple[Image.Resampling, ...] = (
    Image.Resampling.NEAREST,
    Image.Resampling.BILINEAR,
    Image.Resampling.BICUBIC,
    Image.Resampling.LANCZOS,
    Image.Resampling.BOX,
    Image.Resampling.HAMMING,
)
# Final resize shared by train and eval so both see the same resampling filter.
FINAL_INTERPOLATION = Image.Resampling.BICUBIC

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


def jpeg(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Re-encode as JPEG at a random quality, as sharing sites do."""
    quality = int(rng.integers(JPEG_QUALITY_RANGE[0], JPEG_QUALITY_RANGE[1] + 1))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as decoded:
        return decoded.convert("RGB")


def resize(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Rescale by a random factor with a random resampling filter."""
    scale = float(rng.uniform(*RESIZE_SCALE_RANGE))
    interp = _INTERPOLATIONS[int(rng.integers(len(_INTERPOLATIONS)))]
    w, h = image.size
    size = (max(MIN_SIDE, round(w * scale)), max(MIN_SIDE, round(h * scale)))
    return image.resize(size, interp)


def crop(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Random-resized-crop style box (area and aspect jittered), kept at native resolution."""
    w, h = image.size
    area = w * h * float(rng.uniform(*CROP_AREA_RANGE))
    ratio = math.exp(float(rng.uniform(math.log(3 / 4), math.log(4 / 3))))
    cw = int(min(w, max(MIN_SIDE, round(math.sqrt(area * ratio)))))
    ch = int(min(h, max(MIN_SIDE, round(math.sqrt(area / ratio)))))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    return image.crop((x0, y0, x0 + cw, y0 + ch))


def flip(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Horizontal mirror (rng unused; kept for a uniform op signature)."""
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def rotate(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Rotate by a random angle (bilinear, black corners), same canvas size."""
    angle = float(rng.uniform(-ROTATE_MAX_DEGREES, ROTATE_MAX_DEGREES))
    return image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))


def translate(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Shift by whole pixels (no resampling), black fill."""
    w, h = image.size
    dx = int(rng.integers(-int(w * TRANSLATE_MAX_FRACTION), int(w * TRANSLATE_MAX_FRACTION) + 1))
    dy = int(rng.integers(-int(h * TRANSLATE_MAX_FRACTION), int(h * TRANSLATE_MAX_FRACTION) + 1))
    return image.rotate(
        0, resample=Image.Resampling.NEAREST, translate=(dx, dy), fillcolor=(0, 0, 0)
    )


def cutout(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Black out one random rectangle so no single region is relied on."""
    arr = np.array(image, dtype=np.uint8, copy=True)
    h, w = arr.shape[:2]
    ch = max(1, round(h * float(rng.uniform(*CUTOUT_SIDE_RANGE))))
    cw = max(1, round(w * float(rng.uniform(*CUTOUT_SIDE_RANGE))))
    y0 = int(rng.integers(0, h - ch + 1))
    x0 = int(rng.integers(0, w - cw + 1))
    arr[y0 : y0 + ch, x0 : x0 + cw] = 0
    return Image.fromarray(arr)


_OPS: dict[str, Callable[[Image.Image, np.random.Generator], Image.Image]] = {
    "jpeg": jpeg,
    "resize": resize,
    "crop": crop,
    "flip": flip,
    "rotate": rotate,
    "translate": translate,
    "cutout": cutout,
}


def random_augment(
    image: Image.Image,
    rng: Rng,
    *,
    max_ops: int = 2,
    ops: Sequence[str] = AUGMENTATIONS,
) -> tuple[Image.Image, list[str]]:
    """Apply 0..max_ops distinct ops drawn from `ops`; returns the image and the ops applied."""
    unknown = [op for op in ops if op not in _OPS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; known: {list(_OPS)}")
    gen = _as_generator(rng)
    image = image.convert("RGB")
    k = int(gen.integers(0, min(max_ops, len(ops)) + 1))
    chosen = [ops[i] for i in gen.choice(len(ops), size=k, replace=False)] if k else []
    for name in chosen:
        image = _OPS[name](image, gen)
    return image, chosen


def resize_shorter(image: Image.Image, size: int) -> Image.Image:
    """Scale so the shorter side is `size` (no-op when it already is)."""
    w, h = image.size
    if min(w, h) == size:
        return image
    scale = size / min(w, h)
    new = (max(size, round(w * scale)), max(size, round(h * scale)))
    return image.resize(new, FINAL_INTERPOLATION)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """Central size x size window of an image whose shorter side is >= size."""
    w, h = image.size
    x0, y0 = (w - size) // 2, (h - size) // 2
    return image.crop((x0, y0, x0 + size, y0 + size))


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
    max_ops: int = 2,
) -> Callable[[Image.Image], torch.Tensor]:
    """Callable: random post-processing, resize shorter side, random crop, normalise.

    All randomness comes from `rng` (use `sample_rng` per sample for reproducible training).
    """
    _check_size(image_size)
    gen = _as_generator(rng)

    def apply(image: Image.Image) -> torch.Tensor:
        out, _ = random_augment(image, gen, max_ops=max_ops)
        out = resize_shorter(out, image_size)
        w, h = out.size
        x0 = int(gen.integers(0, w - image_size + 1))
        y0 = int(gen.integers(0, h - image_size + 1))
        out = out.crop((x0, y0, x0 + image_size, y0 + image_size))
        return to_tensor(out, mean, std)

    return apply


def eval_transform(
    image_size: int,
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Callable[[Image.Image], torch.Tensor]:
    """Callable: resize shorter side then center crop, normalise (deterministic)."""
    _check_size(image_size)

    def apply(image: Image.Image) -> torch.Tensor:
        out = center_crop(resize_shorter(image.convert("RGB"), image_size), image_size)
        return to_tensor(out, mean, std)

    return apply
