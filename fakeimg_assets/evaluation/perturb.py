"""Robustness perturbations applied to both classes alike before scoring.

Detectors that key on fragile high-frequency traces collapse under re-compression or
resizing (a shared social-media pipeline), so evaluation repeats the same test set under
each. Perturbed copies are written as PNG (lossless: the JPEG artefacts stay, nothing else
is added).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageFilter


def _jpeg(quality: int) -> Callable[[Image.Image], Image.Image]:
    def apply(img: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        img.convert("RGB").save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        with Image.open(buf) as out:
            return out.convert("RGB")

    return apply


def _resize(factor: float) -> Callable[[Image.Image], Image.Image]:
    def apply(img: Image.Image) -> Image.Image:
        w, h = img.size
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        return img.convert("RGB").resize(size, Image.Resampling.BICUBIC)

    return apply


def _blur(radius: float) -> Callable[[Image.Image], Image.Image]:
    def apply(img: Image.Image) -> Image.Image:
        return img.convert("RGB").filter(ImageFilter.GaussianBlur(radius))

    return apply


PERTURBATIONS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "jpeg75": _jpeg(75),
    "jpeg50": _jpeg(50),
    "resize0.5": _resize(0.5),
    "blur1": _blur(1.0),
}


def perturb(img: Image.Image, name: str) -> Image.Image:
    """`img` under perturbation `name`; unknown names fail listing the known ones."""
    try:
        fn = PERTURBATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown perturbation {name!r}; known: {', '.join(PERTURBATIONS)}"
        ) from None
    return fn(img)


def perturbed_copies(paths: Sequence[str | Path], name: str, out_dir: Path) -> list[Path]:
    """Write each image under `name` to out_dir (PNG, one file per input, order kept)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for i, p in enumerate(paths):
        with Image.open(p) as img:
            target = out_dir / f"{i:06d}.png"
            perturb(img, name).save(target, format="PNG")
            out.append(target)
    return out
