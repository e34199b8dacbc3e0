"""The diversity study's figure as a PNG, drawn with PIL like the scaling plot.

One column per condition (single family, multi family): each draw's held-out mean AP a grey
dot, the condition's mean a blue dot with its 95% bootstrap interval as whiskers; the title
gives k, the fixed fake count and the difference with its interval.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw, ImageFont

from fakeimg_assets.studies.diversity import CONDITIONS

W, H = 560, 420
TOP, BOTTOM, LEFT, RIGHT = 50, 350, 70, 540
BLUE, GREY, BLACK = (31, 90, 170), (150, 150, 150), (0, 0, 0)


def diversity_png(
    rows: Sequence[Mapping[str, object]], verdict: Mapping[str, Mapping[str, object]], *,
    k: int, n_fake: int, family_by: str,
) -> bytes:
    """PNG bytes: per-draw AP by condition, means and intervals, the difference in the title."""
    image = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    aps = [float(r["ap"]) for r in rows if r["ap"] is not None]  # type: ignore[arg-type]
    lows = [float(v["ci_low"]) for v in verdict.values()  # type: ignore[arg-type]
            if isinstance(v, Mapping) and v.get("ci_low") is not None]
    lo = 0.5 if aps and min(aps + lows) >= 0.5 else 0.0

    def y(ap: float) -> float:
        return BOTTOM - (max(lo, min(1.0, ap)) - lo) / (1.0 - lo) * (BOTTOM - TOP)

    diff = verdict.get("difference", {})
    title = f"k = {k} generators, {n_fake} fake images fixed (families by {family_by})"
    draw.text((LEFT, 6), title, fill=BLACK, font=font)
    if diff.get("estimate") is not None:
        draw.text((LEFT, 22), f"multi - single: {diff['estimate']:+.3f} "
                  f"[{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}] (95% bootstrap)",
                  fill=BLACK, font=font)  # fmt: skip
    draw.line([(LEFT, TOP), (LEFT, BOTTOM), (RIGHT, BOTTOM)], fill=BLACK)
    for i in range(6):
        v = lo + (1.0 - lo) * i / 5
        draw.line([(LEFT - 4, y(v)), (LEFT, y(v))], fill=BLACK)
        draw.text((LEFT - 36, y(v) - 6), f"{v:.2f}", fill=BLACK, font=font)
    draw.text((4, TOP - 16), "held-out mean AP", fill=BLACK, font=font)
    for c, condition in enumerate(CONDITIONS):
        x = LEFT + (RIGHT - LEFT) * (c + 0.5) / len(CONDITIONS)
        draw.text((x - 36, BOTTOM + 10), condition, fill=BLACK, font=font)
        mine = [r for r in rows if r["condition"] == condition and r["ap"] is not None]
        for j, r in enumerate(mine):
            dx = (j - (len(mine) - 1) / 2) * 8 - 30
            Y = y(float(r["ap"]))  # type: ignore[arg-type]
            draw.ellipse([x + dx - 3, Y - 3, x + dx + 3, Y + 3], fill=GREY)
        est = verdict.get(condition, {})
        if est.get("estimate") is None:
            continue
        if est.get("ci_low") is not None:
            y_lo, y_hi = y(float(est["ci_low"])), y(float(est["ci_high"]))  # type: ignore[arg-type]
            draw.line([(x + 20, y_lo), (x + 20, y_hi)], fill=BLUE, width=2)
            for yy in (y_lo, y_hi):
                draw.line([(x + 14, yy), (x + 26, yy)], fill=BLUE, width=2)
        Y = y(float(est["estimate"]))  # type: ignore[arg-type]
        draw.ellipse([x + 15, Y - 5, x + 25, Y + 5], fill=BLUE)
        draw.text((x + 32, Y - 6), f"{float(est['estimate']):.3f}", fill=BLUE, font=font)  # type: ignore[arg-type]
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
