"""The per-model contact sheet: a file tiled from the sampled images."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_contact_sheet_is_a_file_tiled_from_the_images(tmp_path: Path) -> None:
    import io

    from PIL import Image

    from fakeimg_assets.models.preview import write_contact_sheet

    def png(colour: tuple[int, int, int]) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), colour).save(buf, format="PNG")
        return buf.getvalue()

    path = write_contact_sheet(tmp_path, "fake", "org--m", [png((255, 0, 0))] * 9 + [png((0, 0, 255))])
    assert path == tmp_path / "previews" / "fake" / "org--m.png"
    sheet = Image.open(path)
    assert sheet.size == (8 * 64, 2 * 64)  # 8 per row, 10 images -> 2 rows
    assert sheet.getpixel((64 + 5, 64 + 5)) == (0, 0, 255)  # the 10th tile, row 2 col 2
    assert write_contact_sheet(tmp_path, "fake", "empty", []) is None
    with pytest.raises(ValueError, match="plain file name"):
        write_contact_sheet(tmp_path, "fake", "../escape", [png((0, 0, 0))])
    assert not list((tmp_path / "previews" / "fake").glob(".*"))  # no temp files left


def _noise_pngs(n: int, size: int = 64, seed: int = 0) -> list[bytes]:
    """Sampled-like images that compress badly (random-weight generators make noise)."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
        out.append(buf.getvalue())
    return out


def test_preview_metadata_is_an_inline_thumbnail_and_a_path_relative_to_the_home(
    tmp_path: Path,
) -> None:
    import shutil

    from PIL import Image

    from fakeimg_assets.models.preview import preview_metadata
    from tests.helpers.inline import thumbnail_of

    home = tmp_path / "home"
    meta = preview_metadata(home, "fake", "org--m", _noise_pngs(16))
    assert meta["preview_path"].value == "previews/fake/org--m.png"  # relative, posix
    assert (home / meta["preview_path"].value).is_file()
    thumb = thumbnail_of(meta["preview"].value)  # < 1000 characters, decodable WebP
    assert thumb.height >= 24 and thumb.width >= thumb.height  # one row of square tiles
    # a copied home still finds its sheet: nothing in the metadata names the old folder
    copy = tmp_path / "copy"
    shutil.copytree(home, copy)
    shutil.rmtree(home)
    with Image.open(copy / meta["preview_path"].value) as sheet:
        assert sheet.size == (8 * 64, 2 * 64)
    assert preview_metadata(copy, "fake", "empty", []) == {}
    with pytest.raises(ValueError, match="plain folder name"):
        preview_metadata(copy, "../x", "m", _noise_pngs(1))
