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
