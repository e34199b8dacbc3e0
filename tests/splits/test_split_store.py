"""Reading a stored split follows the images it names, even after they are re-published."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fakeimg_assets.splits.store import read_split
from resources import WarehouseResource

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _image(image_id: str, path: str, label: str = "fake", size: int = 64) -> dict:
    return {"image_id": image_id, "label": label, "source": "org/model", "path": path,
            "width": size, "height": size // 2}


def _split_row(image_id: str, split: str, path: str) -> dict:
    return {"split_id": "s1", "image_id": image_id, "split": split, "label": "fake",
            "source": "org/model", "path": path}


def test_split_paths_follow_republished_images_and_vanished_images_are_named(
    tmp_path: Path,
) -> None:
    wh = WarehouseResource(home=str(tmp_path))
    wh.write("fake_images", "fake--org--model", [
        _image("fake:a", "images/fake/org--model/v2/00000.png"),
        _image("fake:b", "images/fake/org--model/v2/00001.png", size=96),
    ])
    wh.write("detector_splits", "s1", [
        _split_row("fake:a", "train", "images/fake/org--model/v1/00000.png"),
        _split_row("fake:b", "test", "images/fake/org--model/v1/00001.png"),
    ])
    wh.write("split_versions", "s1", [{"split_id": "s1", "created_at": NOW}])
    split_id, rows = read_split(wh)
    assert split_id == "s1"
    assert dict(zip(rows["image_id"], rows["path"], strict=True)) == {
        "fake:a": "images/fake/org--model/v2/00000.png",
        "fake:b": "images/fake/org--model/v2/00001.png",
    }
    assert dict(zip(rows["image_id"], rows["split"], strict=True)) == {
        "fake:a": "train", "fake:b": "test"}
    # each row carries its image's size, joined in DuckDB (callers never read all of images)
    assert rows.select("image_id", "width", "height").rows() == [("fake:a", 64, 32),
                                                                 ("fake:b", 96, 48)]

    wh.write("fake_images", "fake--org--model", [_image("fake:a", "images/fake/org--model/v3/0.png")])
    with pytest.raises(LookupError, match=r"fake:b.*detector_dataset"):
        read_split(wh, "s1")
