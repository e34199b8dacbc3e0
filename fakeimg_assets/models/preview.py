"""Contact sheets of sampled (or real) images, written as PNG files under
`$FAKEIMG_HOME/previews/` and shown in the materialization's metadata as a small inline
thumbnail (`preview`) plus the sheet's path relative to the home (`preview_path`), so the
event log holds no full-size image and a copied home still finds its sheets."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fakeimg_assets.lib.inline_image import tiles_thumbnail
from fakeimg_assets.lib.leftovers import writer_id

PREVIEW_DIR = "previews"


def contact_sheet(pngs: Sequence[bytes], *, columns: int = 8, tile: int = 64) -> bytes:
    """One PNG tiling the images (resized to `tile` px), `columns` per row."""
    from PIL import Image

    if not pngs:
        raise ValueError("a contact sheet needs at least one image")
    tiles = [Image.open(io.BytesIO(b)).convert("RGB").resize((tile, tile)) for b in pngs]
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (tile * min(columns, len(tiles)), tile * rows), "white")
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % columns) * tile, (i // columns) * tile))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return buf.getvalue()


def write_contact_sheet(home: Path, kind: str, name: str, pngs: Sequence[bytes]) -> Path | None:
    """Write `home/previews/<kind>/<name>.png` (temp file, then rename); None without images."""
    if not pngs:
        return None
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"preview name {name!r} must be a plain file name (a model slug)")
    if not kind or "/" in kind or kind.startswith("."):
        raise ValueError(f"preview kind {kind!r} must be a plain folder name")
    folder = Path(home) / PREVIEW_DIR / kind
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    tmp = folder / f".{name}.png.tmp-{writer_id()}"
    tmp.write_bytes(contact_sheet(pngs))
    tmp.replace(path)
    return path


def preview_metadata(home: Path, kind: str, name: str, pngs: Sequence[bytes]) -> dict[str, Any]:
    """Write the sheet; `{"preview": inline thumbnail, "preview_path": path relative to
    home}` (no `preview` when no thumbnail fits the UI's inline budget), nothing without
    images."""
    import dagster as dg

    path = write_contact_sheet(home, kind, name, pngs)
    if path is None:
        return {}
    thumb = tiles_thumbnail(pngs, "sheet")
    relative = path.relative_to(Path(home)).as_posix()
    return {**({"preview": dg.MetadataValue.md(thumb)} if thumb else {}),
            "preview_path": dg.MetadataValue.path(relative)}
