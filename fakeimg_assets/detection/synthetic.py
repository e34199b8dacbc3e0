"""Tiny learnable real/fake image set for offline demos and tests (numpy + PIL only).

"Real" images are smooth photo-like fields (gradients plus blurred blobs, mild sensor noise);
"fake" images are drawn from the same distribution and then carry a periodic up-sampling
(checkerboard) pattern, the kind of artefact transposed-convolution decoders leave, plus
stronger high-frequency noise, so some signal survives the train-time JPEG/resize ops.
The two classes share colours and layout, so a detector must look at high frequencies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def _smooth_image(rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.zeros((size, size, 3), dtype=np.float32)
    for c in range(3):
        a, b, base = rng.uniform(-80, 80), rng.uniform(-80, 80), rng.uniform(60, 190)
        img[..., c] = base + a * xx + b * yy
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(0, 1, size=2)
        radius = rng.uniform(0.1, 0.4)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius**2))
        img += blob[..., None] * rng.uniform(-60, 60, size=3).astype(np.float32)
    img += rng.normal(0, 1.5, size=img.shape).astype(np.float32)  # mild sensor noise
    return img


def _artefact(rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    period = int(rng.choice([2, 4]))
    checker = (((xx // (period // 2)) + (yy // (period // 2))) % 2).astype(np.float32) * 2 - 1
    amplitude = rng.uniform(8, 16)
    pattern = (checker * amplitude)[..., None] * rng.uniform(0.6, 1.0, size=3).astype(np.float32)
    noise = rng.normal(0, rng.uniform(4, 8), size=(size, size, 3)).astype(np.float32)
    return pattern + noise


def synthetic_image(label: int, rng: np.random.Generator, size: int = 64) -> Image.Image:
    """One RGB image: smooth for label 0 (real), smooth + checkerboard for label 1 (fake)."""
    img = _smooth_image(rng, size)
    if label == 1:
        img += _artefact(rng, size)
    return Image.fromarray(np.clip(img, 0, 255).round().astype(np.uint8))


def make_synthetic_dataset(
    root: Path, n_real: int, n_fake: int, *, size: int = 64, seed: int = 0
) -> list[tuple[Path, int]]:
    """Write PNGs under root/real and root/fake; returns (path, label) pairs, reals first."""
    rng = np.random.default_rng(seed)
    samples: list[tuple[Path, int]] = []
    for label, name, n in ((0, "real", n_real), (1, "fake", n_fake)):
        folder = Path(root) / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            path = folder / f"{name}_{i:05d}.png"
            synthetic_image(label, rng, size).save(path)
            samples.append((path, label))
    return samples
