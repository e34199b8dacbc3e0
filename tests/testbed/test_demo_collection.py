"""The demo's small image collection: two random-weight generators the platform cannot run
(DCGAN, pixel UNet) and real crops of the demo photos, in the folder layout
`fakeimg collection add` reads, byte-identical for a seed, written whole or not at all."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakeimg_assets.lib.family_groups import parse_family_group
from fakeimg_assets.real.sources import skimage_arrays
from fakeimg_assets.testbed.collection_folder import folder_files
from fakeimg_assets.testbed.demo_collection import (
    DEMO_IMAGES,
    DEMO_MARKER,
    DEMO_SIZE,
    write_demo_collection,
)
from fakeimg_assets.testbed.world.outside import platform_quality

GENERATORS = ["demo-dcgan", "demo-pixel-ddpm"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_collection(tmp_path_factory.mktemp("demo") / "collection", seed=0)


def _images(folder: Path) -> np.ndarray:
    out = []
    for path in sorted(folder.iterdir()):
        with Image.open(path) as im:
            assert (im.format, im.mode, im.size) == ("PNG", "RGB", (DEMO_SIZE, DEMO_SIZE))
            out.append(np.asarray(im))
    return np.stack(out)


def test_layout_and_csv(demo: Path) -> None:
    assert sorted(p.name for p in demo.iterdir()) == sorted(
        [*GENERATORS, "real", "generators.csv", DEMO_MARKER])
    for name in [*GENERATORS, "real"]:
        assert sorted(p.name for p in (demo / name).iterdir()) == [
            f"{i:05d}.png" for i in range(DEMO_IMAGES)]
    header = (demo / "generators.csv").read_text().splitlines()[0]
    assert header == "generator,family,architecture,release_date,license"  # the contract
    with (demo / "generators.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["generator"] for r in rows] == GENERATORS
    assert [parse_family_group(r["family"]) for r in rows] == ["gan", "pixel_diffusion"]
    assert [r["architecture"] for r in rows] == ["dcgan", "ddpm-unet"]
    assert all(r["release_date"] and r["license"] == "mit" for r in rows)


def test_fakes_are_not_flat_and_all_differ(demo: Path) -> None:
    for name in [*GENERATORS, "real"]:
        images = _images(demo / name)
        assert images.reshape(DEMO_IMAGES, -1).std(axis=1).min() > 2
        assert len({im.tobytes() for im in images}) == DEMO_IMAGES
        assert platform_quality(images)["quarantine_reason"] is None  # the platform keeps them


def test_reals_are_native_crops_of_the_colour_demo_photos(demo: Path) -> None:
    marker = json.loads((demo / DEMO_MARKER).read_text())
    arrays = skimage_arrays()
    crops = marker["real_crops"]
    assert len(crops) == DEMO_IMAGES and len({c["photo"] for c in crops}) == DEMO_IMAGES
    for c in crops:
        photo = np.asarray(arrays[c["photo"]])
        assert photo.ndim == 3  # colour photos only
        cut = photo[c["y"] : c["y"] + DEMO_SIZE, c["x"] : c["x"] + DEMO_SIZE, :3]
        with Image.open(demo / c["file"]) as im:
            assert np.array_equal(np.asarray(im), cut)  # cut, not resized


def test_same_seed_same_bytes_other_seed_other_bytes(demo: Path, tmp_path: Path) -> None:
    again = write_demo_collection(tmp_path / "again", seed=0)
    assert folder_files(again) == folder_files(demo)
    other = folder_files(write_demo_collection(tmp_path / "other", seed=1))
    ref = folder_files(demo)
    assert all(other[p] != ref[p] for p in ref if p.endswith(".png"))


def test_rewriting_replaces_and_a_foreign_folder_is_refused(tmp_path: Path) -> None:
    out = write_demo_collection(tmp_path / "demo", seed=1)
    write_demo_collection(out, seed=2)
    assert json.loads((out / DEMO_MARKER).read_text())["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no staging leftovers
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("keep")
    with pytest.raises(FileExistsError, match="mine"):
        write_demo_collection(mine)
    assert [p.name for p in mine.iterdir()] == ["data.csv"]
    with pytest.raises(ValueError, match="seed"):
        write_demo_collection(tmp_path / "neg", seed=-1)
    assert not (tmp_path / "neg").exists()
