"""Horizontal bars with intervals as a PNG, drawn with PIL (no plotting library needed):
one labelled bar per row (its value written beside it), a whisker for its interval, a
dashed reference line (chance, a threshold), rows grouped under section titles. Used for
AP per family group and per held-out model, and the shortcut audit's AUC per feature set."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

ROW_H, TITLE_H, LABEL_W, BAR_W, VALUE_W, PAD = 18, 26, 230, 420, 60, 10
BLUE, LIGHT, GREY, BLACK, RED = (31, 90, 170), (170, 195, 230), (150, 150, 150), (0, 0, 0), (
    200, 40, 40)
MAX_ROWS_PER_SECTION = 60


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: no score (drawn as '-')
    low: float | None = None
    high: float | None = None


def _short(text: str, n: int = 36) -> str:
    return text if len(text) <= n else "~" + text[-(n - 1):]


def interval_chart(sections: Sequence[tuple[str, Sequence[Bar]]], *, title: str,
                   axis: str, lo: float = 0.0, hi: float = 1.0,
                   reference: float | None = None, reference_label: str = "") -> bytes:  # fmt: skip
    """PNG bytes: each section's title, then its bars (at most MAX_ROWS_PER_SECTION; a
    line says how many more there were), on one shared axis from `lo` to `hi`."""
    if not hi > lo:
        raise ValueError(f"axis range must be increasing, got {lo}..{hi}")
    if not any(bars for _, bars in sections):
        raise ValueError(f"chart {title!r}: nothing to draw")
    height = TITLE_H + PAD
    for _, bars in sections:
        height += TITLE_H + ROW_H * (min(len(bars), MAX_ROWS_PER_SECTION)
                                     + (len(bars) > MAX_ROWS_PER_SECTION))  # fmt: skip
    height += 3 * ROW_H
    width = LABEL_W + BAR_W + VALUE_W + PAD
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()

    def x(v: float) -> float:
        return LABEL_W + (min(hi, max(lo, v)) - lo) / (hi - lo) * BAR_W

    draw.text((PAD, 6), title, fill=BLACK, font=font)
    y = TITLE_H + PAD
    top = y
    for name, bars in sections:
        draw.text((PAD, y + 8), name, fill=BLACK, font=font)
        y += TITLE_H
        for bar in bars[:MAX_ROWS_PER_SECTION]:
            draw.text((PAD + 8, y + 3), _short(bar.label), fill=BLACK, font=font)
            if bar.value is None:
                draw.text((LABEL_W + 4, y + 3), "-", fill=GREY, font=font)
            else:
                draw.rectangle([x(lo), y + 3, x(bar.value), y + ROW_H - 3], fill=LIGHT)
                if bar.low is not None and bar.high is not None:
                    mid = y + ROW_H / 2
                    draw.line([(x(bar.low), mid), (x(bar.high), mid)], fill=BLUE, width=2)
                    for end in (bar.low, bar.high):
                        draw.line([(x(end), mid - 4), (x(end), mid + 4)], fill=BLUE)
                draw.ellipse([x(bar.value) - 3, y + ROW_H / 2 - 3, x(bar.value) + 3,
                              y + ROW_H / 2 + 3], fill=BLUE)  # fmt: skip
                draw.text((LABEL_W + BAR_W + 6, y + 3), f"{bar.value:.3f}", fill=BLACK, font=font)
            y += ROW_H
        if len(bars) > MAX_ROWS_PER_SECTION:
            draw.text((PAD + 8, y + 3), f"... {len(bars) - MAX_ROWS_PER_SECTION} more",
                      fill=GREY, font=font)  # fmt: skip
            y += ROW_H
    draw.line([(x(lo), y + 2), (x(hi), y + 2)], fill=BLACK)
    for i in range(6):
        v = lo + (hi - lo) * i / 5
        draw.line([(x(v), y + 2), (x(v), y + 6)], fill=BLACK)
        draw.text((x(v) - 10, y + 8), f"{v:.2f}", fill=BLACK, font=font)
    draw.text((LABEL_W + BAR_W / 2 - 20, y + 2 + ROW_H), axis, fill=BLACK, font=font)
    if reference is not None and lo <= reference <= hi:
        rx = x(reference)
        for y0 in range(top, int(y), 8):
            draw.line([(rx, y0), (rx, y0 + 4)], fill=RED)
        if reference_label:
            draw.text((rx + 4, top - 12), reference_label, fill=RED, font=font)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
