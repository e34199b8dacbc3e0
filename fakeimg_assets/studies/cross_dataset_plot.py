"""The cross-dataset matrix as a PNG heatmap, drawn with PIL.

One row per training source, one column per evaluation set; each cell coloured by its
mean-over-generators AP (white at chance 0.5, deep blue at 1, red below chance) with the
number written in it; a cell with no score is grey with '-'.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from PIL import Image, ImageDraw, ImageFont

from fakeimg_assets.studies.cross_dataset import axes

CELL_W, CELL_H, LABEL_W, HEADER_H, PAD = 110, 44, 150, 60, 12
BLACK, WHITE, NONE = (0, 0, 0), (255, 255, 255), (215, 215, 215)


def colour(ap: float | None) -> tuple[int, int, int]:
    """White at 0.5, blue towards 1, red towards 0; grey for no score."""
    if ap is None:
        return NONE
    t = max(-1.0, min(1.0, (ap - 0.5) * 2))
    target = (31, 90, 170) if t >= 0 else (200, 40, 40)
    return tuple(round(255 + (c - 255) * abs(t)) for c in target)  # type: ignore[return-value]


def _short(name: str, n: int = 17) -> str:
    return name if len(name) <= n else name[: n - 1] + "~"


def matrix_png(cells: Mapping[tuple[str, str], float | None], title: str = "") -> bytes:
    """PNG bytes of the matrix (train source rows x evaluation set columns)."""
    trains, evals = axes(cells)
    w = LABEL_W + CELL_W * max(1, len(evals)) + PAD
    h = HEADER_H + CELL_H * max(1, len(trains)) + 2 * PAD + 14
    image = Image.new("RGB", (w, h), WHITE)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    draw.text((PAD, 4), title or "mean-over-generators AP: train source x evaluation set",
              fill=BLACK, font=font)  # fmt: skip
    draw.text((PAD, HEADER_H - 16), "train \\ eval", fill=BLACK, font=font)
    for j, e in enumerate(evals):
        draw.text((LABEL_W + j * CELL_W + 6, HEADER_H - 16), _short(e), fill=BLACK, font=font)
    for i, t in enumerate(trains):
        y0 = HEADER_H + i * CELL_H
        draw.text((PAD, y0 + CELL_H / 2 - 6), _short(t, 22), fill=BLACK, font=font)
        for j, e in enumerate(evals):
            ap = cells.get((t, e))
            x0 = LABEL_W + j * CELL_W
            fill = colour(ap)
            draw.rectangle([x0, y0, x0 + CELL_W - 2, y0 + CELL_H - 2], fill=fill, outline=BLACK)
            text = "-" if ap is None else f"{ap:.3f}"
            ink = WHITE if ap is not None and abs(ap - 0.5) > 0.3 else BLACK
            draw.text((x0 + CELL_W / 2 - 14, y0 + CELL_H / 2 - 7), text, fill=ink, font=font)
    draw.text((PAD, h - PAD - 10), "white = chance (0.5), blue = 1.0, red < 0.5",
              fill=BLACK, font=font)  # fmt: skip
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
