"""A table as a PNG, drawn with PIL: a header row, one line per row (long cells cut with
'~'), floats rounded for reading, rows tinted by their `status` column when it has one,
and a last line saying how many rows were left out."""

from __future__ import annotations

import io

import polars as pl
from PIL import Image, ImageDraw, ImageFont

from fakeimg_assets.lib.metadata_table import readable

CHAR_W, ROW_H, PAD, MAX_CELL = 6, 16, 8, 48
TINTS = {"quarantined": (250, 215, 215), "failed": (252, 232, 200)}
BLACK, GRID, HEAD = (0, 0, 0), (210, 210, 210), (230, 236, 246)


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        value = readable(value)
    text = " ".join(str(value).split())  # one line
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "~"


def table_png(frame: pl.DataFrame, *, title: str, max_rows: int = 100) -> bytes:
    """PNG bytes of the first `max_rows` rows of `frame` under `title`."""
    if frame.width == 0:
        raise ValueError(f"table {title!r}: no columns to draw")
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    shown = frame.head(max_rows)
    texts = [[cell_text(v) for v in row] for row in shown.iter_rows()]
    widths = [max([len(c)] + [len(t[i]) for t in texts]) * CHAR_W + 2 * PAD
              for i, c in enumerate(frame.columns)]  # fmt: skip
    left_out = frame.height - shown.height
    lines = 2 + len(texts) + (1 if left_out else 0) + (1 if not texts else 0)
    image = Image.new("RGB", (sum(widths) + 2 * PAD, lines * ROW_H + 3 * PAD), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    draw.text((PAD, PAD), title, fill=BLACK, font=font)
    status = frame.columns.index("status") if "status" in frame.columns else None
    y = PAD + 2 * ROW_H
    draw.rectangle([PAD, y - ROW_H, PAD + sum(widths), y], fill=HEAD)
    x = PAD
    for name, w in zip(frame.columns, widths, strict=True):
        draw.text((x + PAD, y - ROW_H + 2), name, fill=BLACK, font=font)
        x += w
    for row in texts:
        tint = TINTS.get(row[status]) if status is not None else None
        if tint:
            draw.rectangle([PAD, y, PAD + sum(widths), y + ROW_H], fill=tint)
        x = PAD
        for text, w in zip(row, widths, strict=True):
            draw.text((x + PAD, y + 2), text, fill=BLACK, font=font)
            x += w
        draw.line([(PAD, y + ROW_H), (PAD + sum(widths), y + ROW_H)], fill=GRID)
        y += ROW_H
    if not texts:
        draw.text((PAD * 2, y + 2), "(no rows)", fill=BLACK, font=font)
    if left_out:
        draw.text((PAD * 2, y + 2), f"... {left_out} more rows not shown", fill=BLACK, font=font)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
