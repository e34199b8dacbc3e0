"""Plots as files under `$FAKEIMG_HOME/plots/`, shown in a materialization as an inline
thumbnail (`plot`) plus the file's path relative to the home (`plot_path`), so a copied or
moved home still finds its plots and the event log holds no full-size image."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from fakeimg_assets.lib.inline_image import plot_thumbnail
from fakeimg_assets.lib.paths import atomic_write_bytes

PLOT_DIR = "plots"


def write_plot(home: Path, name: str, png: bytes) -> str:
    """Write `home/plots/<name>.png` (temp file, then rename); its path relative to home."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"plot name {name!r} must be a plain file name")
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"plot {name!r}: not PNG bytes")
    atomic_write_bytes(Path(home) / PLOT_DIR / f"{name}.png", png)
    return f"{PLOT_DIR}/{name}.png"


def plot_metadata(home: Path, name: str, png: bytes, alt: str = "plot",
                  key: str = "plot") -> dict[str, dg.MetadataValue]:  # fmt: skip
    """Write the plot; `{key: inline thumbnail, key_path: relative path}` (no thumbnail
    entry when none fits the UI's inline budget)."""
    relative = write_plot(home, name, png)
    thumb = plot_thumbnail(png, alt)
    return {**({key: dg.MetadataValue.md(thumb)} if thumb else {}),
            f"{key}_path": dg.MetadataValue.path(relative)}
