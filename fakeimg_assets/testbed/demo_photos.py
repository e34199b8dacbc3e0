"""The bundled demo photos as a Hub *dataset* repo (imagefolder layout) for the local Hub.

`fakeimg zoo build DIR` writes it to `DIR/datasets/fakeimg/demo-photos`, so the demo fetches
its real photos through the same client and `HF_ENDPOINT` as its models.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

from fakeimg_assets.real.sources import DEMO_DATASET_ID, skimage_files

_README = """---
license: bsd-3-clause
task_categories:
- image-to-text
pretty_name: fakeimg demo photos
---
# fakeimg demo photos

The photographs bundled with scikit-image, with captions, in the Hub's imagefolder layout
(`images/*.png` + `metadata.csv` with `file_name,text`). Grayscale, tiny and duplicate
photos are included on purpose: fakeimg's `real_photos` skips them with the reason.
"""


def write_demo_dataset(root: Path, repo_id: str = DEMO_DATASET_ID) -> Path:
    """Write (replacing) the demo dataset repo under `root/datasets/{org}/{name}`."""
    org, name = repo_id.split("/", 1)
    repo = Path(root) / "datasets" / org / name
    if repo.exists():
        shutil.rmtree(repo)
    (repo / "images").mkdir(parents=True)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["file_name", "text"])
    for file_name, caption, data in skimage_files():
        (repo / "images" / file_name).write_bytes(data)
        writer.writerow([f"images/{file_name}", caption])
    (repo / "metadata.csv").write_text(table.getvalue(), encoding="utf-8")
    (repo / "README.md").write_text(_README, encoding="utf-8")
    (repo / ".gitattributes").write_text("*.png filter=lfs diff=lfs merge=lfs -text\n")
    meta = {"created_at": "2024-01-01T00:00:00.000Z", "author": org}
    (repo / ".hub.json").write_text(json.dumps(meta, indent=2) + "\n")
    return repo
