"""Pictures small enough to show inline in the Dagster UI.

The UI renders a markdown metadata value in place only when the whole string is shorter
than 1000 characters; a longer one hides behind "[Show Markdown]". So a thumbnail here is
a markdown image with a WebP data URI, and the settings (how many tiles, how many pixels,
what quality) are searched until the string fits: the largest picture first, at a
readable quality before a poor one. The full-size picture always lives in a file.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Sequence
from typing import Any

MAX_CHARS = 1000  # the UI shows markdown inline only below this many characters
QUALITIES = (40, 25, 15, 5)  # readable ones first; any fit at 40 or 25 beats a larger one
GOOD_QUALITY = 25
TILE_LAYOUTS = (  # (images in the row, tile px): the most pixels first
    (8, 48), (6, 48), (8, 40), (5, 48), (6, 40), (4, 48), (8, 32), (5, 40), (6, 32),
    (4, 40), (3, 48), (5, 32), (4, 32), (3, 40), (3, 32), (2, 40), (2, 32), (1, 48), (1, 32),
    (1, 24),
)
PLOT_WIDTHS = (360, 320, 288, 256, 224, 192, 160, 128, 96)


def markdown_image(data: bytes, alt: str, mime: str = "image/webp") -> str:
    """`![alt](data:<mime>;base64,...)`: an image markdown can show without a file."""
    if not alt or any(c in alt for c in "[]()\n"):
        raise ValueError(f"alt text {alt!r} must be non-empty plain text (no brackets)")
    return f"![{alt}](data:{mime};base64,{base64.b64encode(data).decode()})"


def webp(image: Any, quality: int) -> bytes:
    """The image as lossy WebP bytes at `quality` (0-100), with no metadata."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="WEBP", quality=quality, method=6)
    return buf.getvalue()


def fits(markdown: str) -> bool:
    return len(markdown) < MAX_CHARS


def _first_fit(candidates: Iterable[Any], alt: str) -> str | None:
    """The markdown of the first candidate image that fits, trying good qualities over
    every candidate before poor ones."""
    images = list(candidates)
    for band in (tuple(q for q in QUALITIES if q >= GOOD_QUALITY),
                 tuple(q for q in QUALITIES if q < GOOD_QUALITY)):  # fmt: skip
        for image in images:
            for quality in band:
                md = markdown_image(webp(image, quality), alt)
                if fits(md):
                    return md
    return None


def tiles_thumbnail(pngs: Sequence[bytes], alt: str = "sheet") -> str | None:
    """The first images as one row of square tiles, as inline markdown (< MAX_CHARS), or
    None when not even one small tile fits (the caller then shows only the file's path)."""
    from PIL import Image

    if not pngs:
        raise ValueError("a thumbnail needs at least one image")
    opened = [Image.open(io.BytesIO(b)).convert("RGB") for b in pngs[: max(n for n, _ in TILE_LAYOUTS)]]

    def row(n: int, tile: int) -> Any:
        picked = opened[:n]
        sheet = Image.new("RGB", (tile * len(picked), tile), "white")
        for i, im in enumerate(picked):
            sheet.paste(im.resize((tile, tile), Image.Resampling.LANCZOS), (i * tile, 0))
        return sheet

    layouts = dict.fromkeys((min(n, len(opened)), t) for n, t in TILE_LAYOUTS)  # dedupe, keep order
    return _first_fit((row(n, t) for n, t in layouts), alt)


def plot_thumbnail(png: bytes, alt: str = "plot") -> str | None:
    """A plot shrunk (aspect kept) until its inline markdown is < MAX_CHARS; None if even
    the smallest width does not fit."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = image.size

    def shrunk(width: int) -> Any:
        width = min(width, w)
        return image.resize((width, max(1, round(h * width / w))), Image.Resampling.LANCZOS)

    widths = dict.fromkeys(min(x, w) for x in PLOT_WIDTHS)
    return _first_fit((shrunk(x) for x in widths), alt)
