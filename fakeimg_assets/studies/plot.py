"""The scaling study's figure as a PNG, drawn with PIL (no plotting library needed).

Left: held-out mean AP vs number of training generators (log2 axis), fake images fixed;
each draw a grey dot, the mean over draws a line with a +-1 std band and min-max whiskers,
the families covered written under each k. Right: the control, one fixed generator set
with a growing number of fake images. Written under `$FAKEIMG_HOME/plots/`; the UI shows
an inline thumbnail (`lib/plot_files.py`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw, ImageFont

W, H = 960, 420
PANEL_W, TOP, BOTTOM, LEFT = 440, 40, 340, 60
BLUE, BAND, GREY, BLACK = (31, 90, 170), (200, 215, 240), (150, 150, 150), (0, 0, 0)


def _y(ap: float, lo: float) -> float:
    return BOTTOM - (ap - lo) / (1.0 - lo) * (BOTTOM - TOP)


def _panel(
    draw: ImageDraw.ImageDraw,
    x0: int,
    title: str,
    xlabel: str,
    summary: Sequence[Mapping[str, object]],
    points: Sequence[tuple[float, float]],
    xkey: str,
    notes: Mapping[float, str],
) -> None:
    font = ImageFont.load_default()
    lo = 0.0
    aps = [float(p[1]) for p in points]
    if aps and min(aps) > 0.5:
        lo = 0.5
    draw.text((x0 + LEFT, 2), title, fill=BLACK, font=font)
    draw.line([(x0 + LEFT, TOP), (x0 + LEFT, BOTTOM), (x0 + PANEL_W, BOTTOM)], fill=BLACK)
    for i in range(6):
        v = lo + (1.0 - lo) * i / 5
        y = _y(v, lo)
        draw.line([(x0 + LEFT - 4, y), (x0 + LEFT, y)], fill=BLACK)
        draw.text((x0 + 18, y - 6), f"{v:.2f}", fill=BLACK, font=font)
    draw.text((x0 + 4, TOP - 20), "held-out mean AP", fill=BLACK, font=font)
    xs = sorted({float(s[xkey]) for s in summary})  # type: ignore[arg-type]
    if not xs:
        return
    lx = [math.log2(v) for v in xs]
    span = (max(lx) - min(lx)) or 1.0

    def px(v: float) -> float:
        return x0 + LEFT + 30 + (math.log2(v) - min(lx)) / span * (PANEL_W - LEFT - 60)

    for v in xs:
        draw.line([(px(v), BOTTOM), (px(v), BOTTOM + 4)], fill=BLACK)
        draw.text((px(v) - 8, BOTTOM + 8), f"{v:g}", fill=BLACK, font=font)
        if v in notes:
            draw.text((px(v) - 14, BOTTOM + 22), notes[v], fill=GREY, font=font)
    draw.text((x0 + LEFT + 80, BOTTOM + 44), xlabel, fill=BLACK, font=font)
    rows = sorted(
        (s for s in summary if s["ap_mean"] is not None), key=lambda s: float(s[xkey])  # type: ignore[arg-type]
    )
    band_top = [(px(float(s[xkey])), _y(min(1.0, float(s["ap_mean"]) + float(s["ap_std"])), lo)) for s in rows]  # type: ignore[arg-type]
    band_bot = [(px(float(s[xkey])), _y(max(lo, float(s["ap_mean"]) - float(s["ap_std"])), lo)) for s in rows]  # type: ignore[arg-type]
    if len(rows) > 1:
        draw.polygon(band_top + band_bot[::-1], fill=BAND)
    for x, ap in points:
        X, Y = px(x), _y(max(lo, ap), lo)
        draw.ellipse([X - 2, Y - 2, X + 2, Y + 2], fill=GREY)
    line = [(px(float(s[xkey])), _y(max(lo, float(s["ap_mean"])), lo)) for s in rows]  # type: ignore[arg-type]
    for s, (X, _) in zip(rows, line, strict=True):
        y_lo = _y(max(lo, float(s["ap_min"])), lo)  # type: ignore[arg-type]
        y_hi = _y(max(lo, float(s["ap_max"])), lo)  # type: ignore[arg-type]
        draw.line([(X, y_lo), (X, y_hi)], fill=BLUE)
        draw.line([(X - 4, y_lo), (X + 4, y_lo)], fill=BLUE)
        draw.line([(X - 4, y_hi), (X + 4, y_hi)], fill=BLUE)
    if len(line) > 1:
        draw.line(line, fill=BLUE, width=2)
    for X, Y in line:
        draw.ellipse([X - 4, Y - 4, X + 4, Y + 4], fill=BLUE)


def scaling_png(rows: Sequence[Mapping[str, object]], summary: Sequence[Mapping[str, object]]) -> bytes:
    """PNG bytes of the study: main curve (left) and control curve (right)."""
    image = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    main = [s for s in summary if not s["control"]]
    ctrl = [s for s in summary if s["control"]]
    fixed = main[0]["n_train_fake"] if main else "?"
    notes = {float(s["n_train_models"]): f"{float(s['n_families']):.1f} fam" for s in main}  # type: ignore[arg-type]
    _panel(draw, 0, f"generators vary, {fixed} fake images fixed", "training generators (k)",
           main, [(float(r["n_train_models"]), float(r["ap"])) for r in rows  # type: ignore[arg-type]
                  if not r["control"] and r["ap"] is not None], "n_train_models", notes)  # fmt: skip
    # the control's first point (x 1 images) is the main curve's largest k
    k_all = max((int(s["n_train_models"]) for s in main), default=0)  # type: ignore[arg-type]
    ctrl = [s for s in main if s["n_train_models"] == k_all] + ctrl
    ctrl_points = [(float(r["n_train_fake"]), float(r["ap"])) for r in rows  # type: ignore[arg-type]
                   if r["ap"] is not None and (r["control"] or r["n_train_models"] == k_all)]
    _panel(draw, PANEL_W + 40, f"control: the same {k_all} generators, more images",
           "fake training images", ctrl, ctrl_points, "n_train_fake", {})  # fmt: skip
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()

