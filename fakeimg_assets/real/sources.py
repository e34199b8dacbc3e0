"""Real photographs: scikit-image's bundled samples for the offline demo, or a user folder.

Each source photo yields seeded random crops resized to the generators' resolution and
saved in the same format as fakes, so size and format carry no label information.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fakeimg_assets.paths import derive_seed

# Photographs shipped inside the scikit-image wheel (no download), with captions.
SKIMAGE_PHOTOS: dict[str, str] = {
    "astronaut": "a portrait of an astronaut in a white spacesuit in front of a flag",
    "chelsea": "a close-up photo of a tabby cat with green eyes",
    "coffee": "a cup of coffee with latte art on a saucer",
    "rocket": "a rocket standing on the launch pad under a blue sky",
    "hubble_deep_field": "a deep field telescope image of distant galaxies",
    "immunohistochemistry": "a microscope image of stained tissue",
    "retina": "a medical photograph of the retina of a human eye",
    "camera": "a black and white photo of a man with a camera on a tripod",
    "moon": "a black and white photo of the cratered surface of the moon",
    "coins": "a black and white photo of old coins laid out on a table",
    "grass": "a close-up photo of grass",
    "gravel": "a close-up photo of gravel",
    "brick": "a photo of a brick wall",
    "cell": "a microscope image of a living cell",
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class SourcePhoto:
    name: str
    caption: str
    pixels: np.ndarray  # HxWx3 uint8


@dataclass(frozen=True)
class RealCrop:
    photo: str
    index: int
    caption: str
    box: tuple[int, int, int, int]
    image: object  # PIL.Image.Image


def _to_rgb(a: np.ndarray) -> np.ndarray:
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        a = np.clip(a * (255 if a.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return a[..., :3]


def skimage_photos() -> list[SourcePhoto]:
    import skimage.data

    return [
        SourcePhoto(name, caption, _to_rgb(getattr(skimage.data, name)()))
        for name, caption in SKIMAGE_PHOTOS.items()
    ]


def folder_photos(folder: Path) -> list[SourcePhoto]:
    """Every image under `folder`; caption from a same-stem `.txt`, else from the name."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"real image folder {folder} does not exist")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"real image folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    photos = []
    for p in paths:
        caption_file = p.with_suffix(".txt")
        caption = (
            caption_file.read_text().strip()
            if caption_file.exists()
            else "a photo of " + p.stem.replace("_", " ").replace("-", " ")
        )
        with Image.open(p) as im:
            pixels = np.asarray(im.convert("RGB"))
        photos.append(SourcePhoto(p.relative_to(folder).as_posix(), caption, pixels))
    return photos


def random_crops(
    photo: SourcePhoto, n: int, size: int, *, seed: int, min_side: int | None = None
) -> Iterator[RealCrop]:
    """`n` seeded square crops of random side in [min_side, shorter side], resized to `size`."""
    from PIL import Image

    h, w = photo.pixels.shape[:2]
    short = min(h, w)
    lo = min(short, min_side or max(size, short // 4))
    rng = np.random.default_rng(derive_seed("crop", seed, photo.name))
    base = Image.fromarray(photo.pixels)
    for i in range(n):
        side = int(rng.integers(lo, short + 1))
        x = int(rng.integers(0, w - side + 1))
        y = int(rng.integers(0, h - side + 1))
        crop = base.crop((x, y, x + side, y + side)).resize(
            (size, size), Image.Resampling.BICUBIC
        )
        yield RealCrop(photo.name, i, photo.caption, (x, y, side, side), crop)
