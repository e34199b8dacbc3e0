"""The world's real photos as a Hub dataset repo: the RIGHT halves of the colour photos,
each cut into `BANDS` horizontal bands that are source photos of their own.

Generators of the world train only on the left halves (`photos.generator_region`), so the
detector's reals must come from pixels no generator saw. `build_world` writes this repo to
`ROOT/datasets/world/photos` beside the generators; `fakeimg run --real-dataset world/photos`
then fetches it through the same Hub client as any dataset, and the platform splits its photos
train/test by `photo_side` as usual. The repo holds no weights, so it is not part of the
world's cache key: `build_world` rewrites it on every call, cached world or not.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

from fakeimg_assets.lib.png import encode_png
from fakeimg_assets.testbed.world.photos import CAPTIONS, COLOUR_PHOTOS, detector_region

WORLD_PHOTOS_ID = "world/photos"

_README = """---
license: bsd-3-clause
task_categories:
- image-to-text
pretty_name: fakeimg world photos (right halves)
---
# fakeimg world photos

The right halves of scikit-image's eight colour photographs, each cut into four horizontal
bands (`<photo>-right-<band>.png`), band i with the photo's caption i, in the Hub's
imagefolder layout (`images/*.png` + `metadata.csv`). The world's generators trained on the
left halves only, so no pixel here was ever seen by a generator.
"""


BANDS = 4  # horizontal bands per right half: each a source photo of its own


def bands(region: Any, n: int = BANDS) -> list[Any]:
    """`region` cut into `n` horizontal bands of equal height (the last takes the remainder).

    Why: the platform holds source photos out (each photo and all its crops on one side).
    With eight whole photos that leaves two or three on the test side, and a detector learns
    *which scenes* are real: one trained on two generators called 42% of the test side's
    real crops fake while scoring its training side's reals 0.005 (measured). As bands, each
    scene reaches both sides, pixel-disjoint, so only real-vs-generated is left to learn.
    """
    import numpy as np

    h = region.shape[0]
    edges = [round(i * h / n) for i in range(n + 1)]
    return [np.ascontiguousarray(region[a:b]) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def write_world_photos(root: Path, repo_id: str = WORLD_PHOTOS_ID) -> Path:
    """Write (replacing) the dataset repo under `root/datasets/{org}/{name}`; returns it."""
    from PIL import Image

    org, name = repo_id.split("/", 1)
    repo = Path(root) / "datasets" / org / name
    if repo.exists():
        shutil.rmtree(repo)
    (repo / "images").mkdir(parents=True)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["file_name", "text"])
    for photo in COLOUR_PHOTOS:
        for i, band in enumerate(bands(detector_region(photo))):
            file_name = f"{photo}-right-{i}.png"
            (repo / "images" / file_name).write_bytes(encode_png(Image.fromarray(band)))
            writer.writerow([f"images/{file_name}", CAPTIONS[photo][i % len(CAPTIONS[photo])]])
    (repo / "metadata.csv").write_text(table.getvalue(), encoding="utf-8")
    (repo / "README.md").write_text(_README, encoding="utf-8")
    (repo / ".gitattributes").write_text("*.png filter=lfs diff=lfs merge=lfs -text\n")
    meta = {"created_at": "2025-01-01T00:00:00.000Z", "author": org}
    (repo / ".hub.json").write_text(json.dumps(meta, indent=2) + "\n")
    return repo
