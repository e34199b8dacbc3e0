"""Helpers for tests/evaluation/: scored frames and a home with learnable images.

The home holds synthetic images (smooth "reals", checkerboard "fakes", see
`detection.synthetic`) with `images`, `model_metadata` and `model_stats` rows as the
sampling assets write them, so the detector assets run for real without sampling a zoo.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
ARCHS = ("sd1", "sdxl", "pixart")


def frame(n_models=6, n_fake=24, n_photos=10, crops=24, seed=0, sizes=((64, 64),)) -> pl.DataFrame:
    """Scored test rows: fakes score higher than reals on average."""
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(n_models):
        w, h = sizes[m % len(sizes)]
        for k in range(n_fake):
            rows.append(dict(
                image_id=f"f{m}-{k}", label="fake", source=f"o/m{m}", architecture=ARCHS[m % 2],
                group_key=f"g{m}", width=w, height=h, score=float(rng.random() * 0.5 + 0.3),
                model_created_at=T0 + dt.timedelta(days=40 * m)))
    for p in range(n_photos):
        for k in range(crops):
            w, h = sizes[k % len(sizes)]
            rows.append(dict(
                image_id=f"r{p}-{k}", label="real", source="demo", architecture=None,
                group_key=f"ph{p}", width=w, height=h, score=float(rng.random() * 0.5),
                model_created_at=None))
    return pl.DataFrame(rows)


def _only_schema(relation: str, rows: list[dict]) -> list[dict]:
    from fakeimg_assets.warehouse.schemas import schema_of

    cols = schema_of(relation)
    return [{k: v for k, v in r.items() if k in cols} for r in rows]


def learnable_home(root: Path, n_models: int = 6, n_fake: int = 12, only_new: bool = False):
    """(home, resources): `n_models` generators plus 10 real photos x 6 crops, 64 px PNG.

    Models 0 and 1 declare the same base model (one lineage group). With `only_new`, only
    the last model is written (a generator arriving later).
    """
    from fakeimg_assets.definitions import build_resources
    from fakeimg_assets.detection.synthetic import synthetic_image
    from fakeimg_assets.warehouse.store import Warehouse
    from resources import ComputeResource

    home = root / "home"
    wh = Warehouse(home)
    first = n_models - 1 if only_new else 0
    for m in range(first, n_models):
        model_id = f"maker{m}/gen-{m}"
        rng = np.random.default_rng(100 + m)
        rows = []
        for k in range(n_fake):
            rel = f"images/fake/m{m}/{k:03d}.png"
            (home / rel).parent.mkdir(parents=True, exist_ok=True)
            synthetic_image(1, rng).save(home / rel)
            rows.append({"image_id": f"fake:{model_id}:{k}", "label": "fake", "source": model_id,
                         "path": rel, "width": 64, "height": 64, "format": "PNG", "mode": "RGB"})
        wh.write("fake_images", f"m{m}", _only_schema("fake_images", rows))
        wh.write("model_metadata", f"m{m}", _only_schema("model_metadata", [{
            "model_id": model_id, "architecture": ARCHS[m % len(ARCHS)],
            "created_at": T0 + dt.timedelta(days=100 * m),
            "base_model": "shared/base" if m < 2 else None,
            "base_models": ["shared/base"] if m < 2 else [],
            "file_sha256": json.dumps({"unet/w.safetensors": f"{m + 1:064x}"}),
        }]))
        wh.write("model_stats", f"m{m}", [{"model_id": model_id, "n_images": n_fake,
                                            "quarantined": False}])
    if not only_new:
        rng = np.random.default_rng(7)
        rows = []
        for p in range(10):
            for k in range(6):
                rel = f"images/real/p{p}-{k}.png"
                (home / rel).parent.mkdir(parents=True, exist_ok=True)
                synthetic_image(0, rng).save(home / rel)
                rows.append({"image_id": f"real:demo:p{p}-{k}", "label": "real", "source": "demo",
                             "path": rel, "origin": f"photo{p}#crop={k},0,64,64", "width": 64,
                             "height": 64, "format": "PNG", "mode": "RGB"})
        wh.write("real_images", "real", _only_schema("real_images", rows))
    resources = build_resources(home=str(home), endpoint="http://127.0.0.1:9",
                                compute=ComputeResource(device="cpu", batch_size=8))
    return home, resources
