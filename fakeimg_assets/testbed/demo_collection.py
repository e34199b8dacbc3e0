"""A small image collection for `make demo`: two generators the platform cannot run, in seconds.

As the demo zoo's Hub models, the generators have random weights (nothing is trained, so the
images are coloured noise and prove plumbing only): the world's DCGAN generator (`world/gan`,
batch-norm statistics calibrated so its samples are not flat) and its pixel-space UNet
(`world/pixel_diffusion`, 4 DDIM steps). `real/` holds one native-resolution crop (cut, never
resized) of each colour demo photo, the same pictures `demo_photos.py` publishes, so the
collection's reals are PNGs of the same size as its fakes and no format or size shortcut
separates them. The marker `.demo-collection.json` records the seed and where each real crop
was cut; a folder without it is never replaced.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from fakeimg_assets.real.sources import skimage_arrays
from fakeimg_assets.testbed.collection_folder import (
    REAL_FOLDER,
    check_replaceable,
    collection_path,
    folder_files,
    image_file,
    replace_folder,
    staging_folder,
    write_collection_folder,
)
from fakeimg_assets.testbed.world import gan, pixel_diffusion
from fakeimg_assets.testbed.world.photos import COLOUR_PHOTOS

DEMO_SIZE = 64
DEMO_IMAGES = 8  # per generator, and reals
DEMO_MARKER = ".demo-collection.json"
DEMO_THREADS = 2
DEMO_SAMPLE_STEPS = 4
GENERATORS = (  # generator, family, architecture, release_date
    ("demo-dcgan", "gan", "dcgan", "2019-06-01"),
    ("demo-pixel-ddpm", "pixel_diffusion", "ddpm-unet", "2021-06-01"),
)


def demo_real_crops(seed: int = 0) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """One seeded DEMO_SIZE crop of each colour demo photo (whole photos, as the demo dataset
    ships them): (n, S, S, 3) uint8 and, per crop, {"file", "photo", "y", "x"}."""
    rng = np.random.default_rng(seed)
    arrays = skimage_arrays()
    crops, where = [], []
    for i, name in enumerate(COLOUR_PHOTOS[:DEMO_IMAGES]):
        photo = np.asarray(arrays[name])[..., :3]
        h, w = photo.shape[:2]
        y, x = int(rng.integers(h - DEMO_SIZE + 1)), int(rng.integers(w - DEMO_SIZE + 1))
        crops.append(photo[y : y + DEMO_SIZE, x : x + DEMO_SIZE])
        where.append({"file": f"{REAL_FOLDER}/{image_file(i)}", "photo": name, "y": y, "x": x})
    return np.stack(crops).astype(np.uint8), where


def demo_fakes(seed: int = 0) -> dict[str, np.ndarray]:
    """DEMO_IMAGES samples of each random-weight generator, (n, S, S, 3) uint8, by name."""
    gan_net = gan.calibrate_batch_norm(gan.new_generator(seed, DEMO_SIZE), seed=seed)
    unet = pixel_diffusion.new_unet(seed, DEMO_SIZE)
    return {
        GENERATORS[0][0]: gan.sample_images(gan_net, DEMO_IMAGES, seed=seed),
        GENERATORS[1][0]: pixel_diffusion.sample_images(unet, DEMO_IMAGES, seed=seed,
                                                        steps=DEMO_SAMPLE_STEPS),
    }  # fmt: skip


def write_demo_collection(out_dir: Path, seed: int = 0) -> Path:
    """Write (replacing an earlier demo collection) the demo collection folder; returns it.

    Deterministic for a seed: the same seed gives byte-identical files. A non-empty folder
    without the demo marker is refused (`FileExistsError`), as is a negative seed."""
    import torch

    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"demo collection seed must be an int >= 0, got {seed!r}")
    out_dir = collection_path(out_dir)
    check_replaceable(out_dir, DEMO_MARKER)  # before any work: fail fast
    staged = staging_folder(out_dir)
    previous = torch.get_num_threads()
    torch.set_num_threads(DEMO_THREADS)
    try:
        fakes = demo_fakes(seed)
        reals, where = demo_real_crops(seed)
        rows = [{"generator": g, "family": f, "architecture": a, "release_date": d,
                 "license": "mit"} for g, f, a, d in GENERATORS]  # fmt: skip
        write_collection_folder(staged, fakes, rows, reals)
        marker = {"seed": seed, "image_size": DEMO_SIZE, "real_crops": where,
                  "files": folder_files(staged)}  # fmt: skip
        (staged / DEMO_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        replace_folder(staged, out_dir, DEMO_MARKER)
    finally:
        torch.set_num_threads(previous)
        if staged.exists():
            shutil.rmtree(staged)
    return out_dir
