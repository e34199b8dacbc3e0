"""Per-image quality measures and the per-model quarantine rule (pure numpy).

Degenerate generators (all-black output from a broken VAE or NSFW filter, one image
repeated) poison a detector's training data, so they are measured and quarantined.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BLACK_LEVEL = 10  # luma below this (0-255) counts as black
SATURATED_LEVEL = 245
BLACK_IMAGE_PIXEL_FRACTION = 0.95
CONSTANT_STD = 2.0


@dataclass(frozen=True)
class QuarantinePolicy:
    """Thresholds above which a model's images are unfit for training."""

    max_black_fraction: float = 0.5
    max_constant_fraction: float = 0.5
    max_duplicate_fraction: float = 0.5
    min_images: int = 1


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an HxWx3 uint8 array, as float64."""
    if rgb.ndim == 2:
        return rgb.astype(np.float64)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"expected HxWx3 image array, got shape {rgb.shape}")
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return 0.299 * r + 0.587 * g + 0.114 * b


def dhash(gray: np.ndarray, size: int = 8) -> str:
    """64-bit difference hash: equal for near-identical images, as 16 hex digits."""
    from PIL import Image

    img = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).resize(
        (size + 1, size), Image.Resampling.BILINEAR
    )
    px = np.asarray(img, dtype=np.int16)
    bits = (px[:, 1:] > px[:, :-1]).flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return f"{value:0{size * size // 4}x}"


def image_measures(rgb: np.ndarray) -> dict[str, float | bool | str]:
    """Quality measures of one image (uint8 HxWx3)."""
    y = luma(rgb)
    hist = np.bincount(np.clip(y, 0, 255).astype(np.uint8).ravel(), minlength=256)
    p = hist[hist > 0] / y.size
    lap = (
        -4 * y[1:-1, 1:-1] + y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:]
        if min(y.shape) >= 3
        else np.zeros(1)
    )
    black_px = float((y < BLACK_LEVEL).mean())
    std = float(y.std())
    return {
        "mean_luma": float(y.mean()),
        "std_luma": std,
        "black_pixel_fraction": black_px,
        "saturated_pixel_fraction": float((y > SATURATED_LEVEL).mean()),
        "entropy": float(-(p * np.log2(p)).sum()),
        "laplacian_var": float(lap.var()),
        "dhash": dhash(y),
        "is_black": black_px >= BLACK_IMAGE_PIXEL_FRACTION,
        "is_constant": std < CONSTANT_STD,
    }


def duplicate_fraction(hashes: Sequence[str]) -> float:
    """Share of images whose hash another image of the set also has."""
    if not hashes:
        return 0.0
    counts = Counter(hashes)
    return sum(c for c in counts.values() if c > 1) / len(hashes)


def model_aggregate(
    per_image: Sequence[dict], policy: QuarantinePolicy | None = None
) -> dict[str, object]:
    """Per-model aggregates plus the quarantine decision and its reason."""
    policy = policy or QuarantinePolicy()
    n = len(per_image)

    def mean(key: str) -> float | None:
        vals = [float(r[key]) for r in per_image if r.get(key) is not None]
        return float(np.mean(vals)) if vals else None

    black = sum(bool(r["is_black"]) for r in per_image) / n if n else 0.0
    constant = sum(bool(r["is_constant"]) for r in per_image) / n if n else 0.0
    dup = duplicate_fraction([str(r["dhash"]) for r in per_image])
    sha_fail = sum(1 for r in per_image if r.get("sha256_ok") is False)
    reasons = []
    if n < policy.min_images:
        reasons.append(f"only {n} images (< {policy.min_images})")
    if black > policy.max_black_fraction:
        reasons.append(f"{black:.0%} of images are black (> {policy.max_black_fraction:.0%})")
    if constant > policy.max_constant_fraction:
        reasons.append(
            f"{constant:.0%} of images are constant (> {policy.max_constant_fraction:.0%})"
        )
    if dup > policy.max_duplicate_fraction:
        reasons.append(f"{dup:.0%} of images are duplicates (> {policy.max_duplicate_fraction:.0%})")
    if sha_fail:
        reasons.append(f"{sha_fail} image files do not match their recorded sha256")
    return {
        "n_images": n,
        "black_fraction": black,
        "constant_fraction": constant,
        "duplicate_fraction": dup,
        "mean_luma": mean("mean_luma"),
        "mean_std_luma": mean("std_luma"),
        "mean_entropy": mean("entropy"),
        "mean_laplacian_var": mean("laplacian_var"),
        "sha256_failures": sha_fail,
        "quarantined": bool(reasons),
        "quarantine_reason": "; ".join(reasons) or None,
    }
