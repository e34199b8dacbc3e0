"""The world's real photos as a Hub dataset repo: the RIGHT halves of the colour photos.

Generators of the world train only on the left halves (`photos.generator_region`), so the
detector's reals must come from pixels no generator saw. `build_world` writes this repo to
`ROOT/datasets/world/photos` beside the generators; `fakeimg run --real-dataset world/photos`
then fetches it through the same Hub client as any dataset, and the platform splits its photos
train/test by `photo_side` as usual.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

from fakeimg_assets.world.photos import COLOUR_PHOTOS, detector_region

WORLD_PHOTOS_ID = "world/photos"

_README = """---
license: bsd-3-clause
task_categories:
- image-to-text
pretty_name: fakeimg world photos (right halves)
---
# fakeimg world photos

The right halves of scikit-image's eight colour photographs, with captions, in the Hub's
imagefolder layout (`images/*.png` + `metadata.csv`). The world's generators trained on the
left halves only, so no pixel here was ever seen by a generator.
"""


def write_world_photos(root: Path, repo_id: str = WORLD_PHOTOS_ID) -> Path:
    """Write (replacing) the dataset repo under `root/datasets/{org}/{name}`; returns it."""
    from PIL import Image

    from fakeimg_assets.real.sources import SKIMAGE_PHOTOS
    from fakeimg_assets.sampling.sampler import encode_png

    org, name = repo_id.split("/", 1)
    repo = Path(root) / "datasets" / org / name
    if repo.exists():
        shutil.rmtree(repo)
    (repo / "images").mkdir(parents=True)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["file_name", "text"])
    for photo in COLOUR_PHOTOS:
        file_name = f"{photo}-right.png"
        data = encode_png(Image.fromarray(detector_region(photo).copy()))
        (repo / "images" / file_name).write_bytes(data)
        writer.writerow([f"images/{file_name}", SKIMAGE_PHOTOS[photo]])
    (repo / "metadata.csv").write_text(table.getvalue(), encoding="utf-8")
    (repo / "README.md").write_text(_README, encoding="utf-8")
    (repo / ".gitattributes").write_text("*.png filter=lfs diff=lfs merge=lfs -text\n")
    meta = {"created_at": "2025-01-01T00:00:00.000Z", "author": org}
    (repo / ".hub.json").write_text(json.dumps(meta, indent=2) + "\n")
    return repo
