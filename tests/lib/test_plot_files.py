"""Plots as files under the home, shown as a thumbnail plus a path relative to the home."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from fakeimg_assets.lib.interval_chart import Bar, interval_chart
from fakeimg_assets.lib.plot_files import plot_metadata, write_plot
from tests.helpers.inline import thumbnail_of


def _chart(n_models: int = 3) -> bytes:
    return interval_chart(
        [("AP by family group", [Bar("gan", 0.9, 0.85, 0.95), Bar("latent_diffusion", None)]),
         ("AP by held-out model", [Bar(f"org/model-{i}", 0.5 + i / (2 * n_models), 0.4, 1.0)
                                   for i in range(n_models)])],
        title="detector r1", axis="balanced AP", reference=0.5, reference_label="chance")


def test_plot_metadata_writes_the_file_and_an_inline_thumbnail(tmp_path: Path) -> None:
    png = _chart()
    meta = plot_metadata(tmp_path, "evaluation-r1", png, "AP")
    assert meta["plot_path"].value == "plots/evaluation-r1.png"
    assert (tmp_path / meta["plot_path"].value).read_bytes() == png
    with Image.open(tmp_path / meta["plot_path"].value) as full:
        size = full.size
    thumb = thumbnail_of(meta["plot"].value)
    assert thumb.width < size[0] and abs(thumb.width / thumb.height - size[0] / size[1]) < 0.05
    assert not [p for p in (tmp_path / "plots").iterdir() if p.name.startswith(".")]


def test_long_charts_grow_then_cap_and_bad_input_is_refused(tmp_path: Path) -> None:
    short, long = (Image.open(__import__("io").BytesIO(_chart(n))) for n in (3, 200))
    assert long.height > short.height and long.height < 80 * 18 + 400  # capped at 60 rows
    with pytest.raises(ValueError, match="nothing to draw"):
        interval_chart([("empty", [])], title="t", axis="a")
    with pytest.raises(ValueError, match="increasing"):
        interval_chart([("s", [Bar("a", 0.5)])], title="t", axis="a", lo=1.0, hi=0.0)
    with pytest.raises(ValueError, match="plain file name"):
        write_plot(tmp_path, "../out", _chart())
    with pytest.raises(ValueError, match="not PNG bytes"):
        write_plot(tmp_path, "x", b"GIF89a")
