"""Thumbnails that the Dagster UI shows in place: always under its 1000-character markdown
limit, decodable, and as large as the limit allows."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fakeimg_assets.lib.inline_image import (
    MAX_CHARS,
    markdown_image,
    plot_thumbnail,
    tiles_thumbnail,
)
from tests.helpers.inline import thumbnail_of


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _noise(n: int, size: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [_png(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


@pytest.mark.parametrize("size", [16, 64, 512])
@pytest.mark.parametrize("n", [1, 3, 16])
def test_tiles_always_fit_and_decode(n: int, size: int) -> None:
    """Noise is the worst case for a compressor; a thumbnail still fits."""
    md = tiles_thumbnail(_noise(n, size, seed=n * size))
    assert md is not None and len(md) < MAX_CHARS
    thumb = thumbnail_of(md)
    assert thumb.width % thumb.height == 0 and thumb.width // thumb.height <= min(n, 8)


def test_smooth_images_get_more_and_larger_tiles() -> None:
    ramp = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (64, 1, 3))
    smooth = thumbnail_of(tiles_thumbnail([_png(ramp)] * 16))
    noisy = thumbnail_of(tiles_thumbnail(_noise(16, 64, seed=1)))
    assert smooth.size == (8 * 48, 48)  # the largest layout fits
    assert smooth.width * smooth.height > noisy.width * noisy.height


def test_the_tiles_are_the_first_images_in_order() -> None:
    red, blue = (np.full((32, 32, 3), c, dtype=np.uint8) for c in ((255, 0, 0), (0, 0, 255)))
    thumb = thumbnail_of(tiles_thumbnail([_png(red), _png(blue)] * 2)).convert("RGB")
    tile = thumb.height
    left, second = thumb.getpixel((tile // 2, tile // 2)), thumb.getpixel((tile * 3 // 2, tile // 2))
    assert left[0] > 200 and left[2] < 60 and second[2] > 200 and second[0] < 60


def test_plot_thumbnail_keeps_the_aspect_and_fits() -> None:
    rng = np.random.default_rng(0)
    plot = np.full((420, 960, 3), 255, dtype=np.uint8)
    plot[100:300, 100:900] = rng.integers(0, 256, (200, 800, 3), dtype=np.uint8)
    md = plot_thumbnail(_png(plot), "scaling")
    thumb = thumbnail_of(md)
    assert md.startswith("![scaling](data:image/webp;base64,")
    assert abs(thumb.width / thumb.height - 960 / 420) < 0.05 and thumb.width <= 360
    small = thumbnail_of(plot_thumbnail(_png(np.full((40, 50, 3), 9, dtype=np.uint8))))
    assert small.size == (50, 40)  # never enlarged


def test_nothing_fits_gives_none_and_bad_alt_text_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one image"):
        tiles_thumbnail([])
    with pytest.raises(ValueError, match="alt text"):
        markdown_image(b"x", "a](javascript:x)")
    # 1000 characters of alt text: no picture can fit beside it
    assert plot_thumbnail(_png(np.zeros((8, 8, 3), dtype=np.uint8)), "a" * 1000) is None
