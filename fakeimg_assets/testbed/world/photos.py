"""The photos generators learn from, pixel-disjoint from the photos the detector sees.

Why a region split rather than a separate photo pool: scikit-image bundles only eight
usable colour photographs (the rest are grayscale, tiny or synthetic), and the demo dataset
repo `fakeimg/demo-photos` already ships all eight, split train/test by `photo_side`. Taking
whole photos away from the detector would leave it almost nothing, so each colour photo is
cut in two at its vertical midline: generators train on crops of the LEFT half only
(`generator_region`), and the detector's photos for a world are the RIGHT halves
(`detector_region`), so no pixel a generator trained on ever reaches the detector as a real.
(The demo dataset ships whole photos; a world run must use right halves, see `detector_region`.)

Crops are native-resolution squares (no resampling), like the platform's real crops
(`real/crops.py`), so generators learn the same pixel statistics the detector's reals have.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from fakeimg_assets.real.sources import SKIMAGE_PHOTOS  # the bundled photos themselves

# The bundled photos that are real colour photographs (checked in
# tests/testbed/world/test_world.py: each is HxWx3 with mean channel spread > 4, the platform's
# grayscale screen). `cat` is `chelsea`.
COLOUR_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "stereo_motorcycle",
)


# Four captions per photo, all true of the whole photo: a generator trains on a crop of the
# left half under one of them (drawn per crop), and band i of the right half
# (`dataset.bands`) carries caption i, so the detector's prompt pool holds a caption per
# band (32 in all) instead of one per photo, and every prompt is one the generators learned.
CAPTIONS: dict[str, tuple[str, str, str, str]] = {
    "astronaut": (
        "a portrait of an astronaut in a white spacesuit in front of a flag",
        "an astronaut smiling in a spacesuit with an american flag behind",
        "a woman astronaut in a white suit holding a helmet",
        "an official portrait of a space shuttle astronaut",
    ),
    "chelsea": (
        "a close-up photo of a tabby cat with green eyes",
        "a striped cat looking to the side on a wooden floor",
        "a ginger tabby cat with long white whiskers",
        "the face of a tabby cat in warm light",
    ),
    "coffee": (
        "a cup of coffee with latte art on a saucer",
        "a cappuccino in a white cup seen from above",
        "latte art shaped like a leaf in a coffee cup",
        "a coffee cup and saucer on a wooden table",
    ),
    "rocket": (
        "a rocket standing on the launch pad under a blue sky",
        "a space shuttle on the launch tower before lift off",
        "a white rocket with boosters next to a gantry",
        "a launch pad with a rocket and a clear sky",
    ),
    "hubble_deep_field": (
        "a deep field telescope image of distant galaxies",
        "hundreds of faint galaxies on a black sky",
        "a hubble space telescope view of the early universe",
        "spiral and elliptical galaxies scattered in deep space",
    ),
    "immunohistochemistry": (
        "a microscope image of stained tissue",
        "a brown and blue stained tissue section under a microscope",
        "cells of a tissue sample with immunohistochemical stain",
        "a histology slide of tissue with stained nuclei",
    ),
    "retina": (
        "a medical photograph of the retina of a human eye",
        "a fundus photograph with blood vessels and the optic disc",
        "an orange retina image with branching vessels",
        "the back of a human eye photographed through the pupil",
    ),
    "stereo_motorcycle": (
        "a photo of a red motorcycle parked in a workshop",
        "a red sport motorbike on a stand indoors",
        "a motorcycle in a garage with tools on the wall",
        "the side of a red motorcycle with a black seat",
    ),
}


@dataclass(frozen=True)
class PoolPhoto:
    """One generator-training photo: its name, captions and left-half pixels (HxWx3 uint8)."""

    name: str
    captions: tuple[str, ...]
    pixels: Any  # numpy uint8 array


@cache
def _full_photo(name: str) -> Any:
    import skimage.data

    if name not in SKIMAGE_PHOTOS:
        raise KeyError(f"unknown photo {name!r}; known: {sorted(SKIMAGE_PHOTOS)}")
    a = getattr(skimage.data, name)()
    a = a[0] if isinstance(a, tuple) else a  # stereo pairs: the left image, as the demo
    return np.ascontiguousarray(a[..., :3])


def generator_region(name: str) -> Any:
    """Left half (columns [0, W//2)) of a photo: the only pixels generators train on."""
    a = _full_photo(name)
    return a[:, : a.shape[1] // 2]


def detector_region(name: str) -> Any:
    """Right half (columns [W//2, W)): what a world's detector may use as real photos."""
    a = _full_photo(name)
    return a[:, a.shape[1] // 2 :]


def generator_pool(names: tuple[str, ...] | None = None) -> list[PoolPhoto]:
    """The generator-training photos (all colour photos, or the named subset), in order."""
    names = COLOUR_PHOTOS if names is None else names
    unknown = [n for n in names if n not in COLOUR_PHOTOS]
    if unknown or not names:
        raise KeyError(f"not generator-pool photos: {unknown or names}; known: {COLOUR_PHOTOS}")
    return [PoolPhoto(n, CAPTIONS[n], generator_region(n)) for n in names]


def sample_crops(
    photos: list[PoolPhoto], n: int, size: int, *, seed: int
) -> tuple[Any, list[str]]:
    """`n` seeded native-resolution size x size crops, photos drawn uniformly.

    Returns a float32 array (n, 3, size, size) in [-1, 1] and each crop's caption (one of
    its photo's captions, drawn per crop); random horizontal flips double the data without
    changing pixel statistics.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n, 3, size, size), dtype=np.float32)
    captions: list[str] = []
    for i in range(n):
        photo = photos[int(rng.integers(len(photos)))]
        h, w = photo.pixels.shape[:2]
        y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
        crop = photo.pixels[y : y + size, x : x + size]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = crop.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
        captions.append(photo.captions[int(rng.integers(len(photo.captions)))])
    return out, captions
