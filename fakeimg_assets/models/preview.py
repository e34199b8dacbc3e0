"""A contact sheet of sampled images for the Dagster UI (PNG embedded in markdown)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence


def contact_sheet_markdown(pngs: Sequence[bytes], *, columns: int = 8, tile: int = 64) -> str:
    from PIL import Image

    if not pngs:
        return "_no images_"
    tiles = [Image.open(io.BytesIO(b)).convert("RGB").resize((tile, tile)) for b in pngs]
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (tile * min(columns, len(tiles)), tile * rows), "white")
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % columns) * tile, (i // columns) * tile))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return f"![samples](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"
