"""Native-resolution crops of real photos at exactly the fakes' sizes, never resampled.

For every distinct fake (width, height), each kept photo large enough yields seeded crops
of that size: first non-overlapping grid cells in a seeded order, then (only when more are
asked for than the grid holds) seeded free positions. A photo smaller than the size is
skipped for that size, and the plan says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from fakeimg_assets.lib.paths import derive_seed


@dataclass(frozen=True)
class CropSpec:
    photo_id: str
    width: int
    height: int
    index: int
    x: int
    y: int


@dataclass
class CropPlan:
    crops: list[CropSpec] = field(default_factory=list)
    skipped_small: dict[str, list[str]] = field(default_factory=dict)  # "WxH" -> photo ids


def crop_positions(
    photo_w: int, photo_h: int, w: int, h: int, n: int, *, seed: int, key: str
) -> list[tuple[int, int]]:
    """`n` seeded top-left corners of w x h crops inside a photo (grid cells first)."""
    if w > photo_w or h > photo_h:
        raise ValueError(f"crop {w}x{h} does not fit in a {photo_w}x{photo_h} photo")
    rng = np.random.default_rng(derive_seed("real-crop", seed, key, w, h))
    cols, rows = photo_w // w, photo_h // h
    ox = int(rng.integers(0, photo_w - cols * w + 1))
    oy = int(rng.integers(0, photo_h - rows * h + 1))
    cells = [(ox + c * w, oy + r * h) for r in range(rows) for c in range(cols)]
    order = rng.permutation(len(cells))
    out = [cells[i] for i in order[:n]]
    while len(out) < n:
        out.append((int(rng.integers(0, photo_w - w + 1)), int(rng.integers(0, photo_h - h + 1))))
    return out


def plan_crops(
    photos: dict[str, tuple[int, int]],
    fake_sizes: dict[tuple[int, int], int],
    *,
    reals_per_fake: float = 1.0,
    crops_per_photo: int = 0,
    seed: int = 0,
) -> CropPlan:
    """Crops for each fake size from every photo (id -> (width, height)) that fits it.

    `crops_per_photo` > 0 fixes the number per photo and size; otherwise the photos that fit
    share ceil(n_fakes * reals_per_fake) crops evenly, so each size is balanced.
    """
    if reals_per_fake <= 0:
        raise ValueError(f"reals_per_fake must be > 0, got {reals_per_fake}")
    if crops_per_photo < 0:
        raise ValueError(f"crops_per_photo must be >= 0, got {crops_per_photo}")
    plan = CropPlan()
    for (w, h), n_fakes in sorted(fake_sizes.items()):
        if w < 1 or h < 1:
            raise ValueError(f"invalid fake size {w}x{h}")
        fit = sorted(pid for pid, (pw, ph) in photos.items() if pw >= w and ph >= h)
        small = sorted(set(photos) - set(fit))
        if small:
            plan.skipped_small[f"{w}x{h}"] = small
        if not fit:
            continue
        target = math.ceil(n_fakes * reals_per_fake)
        for rank, pid in enumerate(fit):
            n = crops_per_photo or (target // len(fit) + (1 if rank < target % len(fit) else 0))
            pw, ph = photos[pid]
            for i, (x, y) in enumerate(crop_positions(pw, ph, w, h, n, seed=seed, key=pid)):
                plan.crops.append(CropSpec(pid, w, h, i, x, y))
    return plan


def cut_crops(rgb: np.ndarray, specs: Iterable[CropSpec]) -> Iterator[tuple[CropSpec, np.ndarray]]:
    """Each spec's crop of a photo's pixels, as its own array: a crop kept for later (a
    preview, a batch) never keeps the whole photo alive the way a numpy view would."""
    for spec in specs:
        yield spec, rgb[spec.y:spec.y + spec.height, spec.x:spec.x + spec.width].copy()
