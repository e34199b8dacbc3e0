"""Small test images: encoded bytes of an array, and a smooth colour photo stand-in."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def png_bytes(a: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    """`a` encoded as `fmt` (PNG by default; any PIL format and its save options)."""
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format=fmt, **kw)
    return buf.getvalue()


def colour_photo(seed: int, h: int = 96, w: int = 128) -> np.ndarray:
    """A smooth colour image (an upscaled random 6 x 8 grid): passes the colour screen."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(base).resize((w, h), Image.Resampling.BILINEAR))
