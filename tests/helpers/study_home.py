"""A home with a split ready for the diversity and cross-dataset studies (tests/studies/).

Synthetic learnable images (`detection.synthetic`: smooth reals, checkerboard fakes) and
the warehouse rows the platform's assets write (`images`, `model_metadata`, `collections`,
`detector_splits`, `split_versions`), so the study assets run for real without sampling.

The platform's own Hub generators (collection null), 6 fakes each, 32 px:
  sd1: sd1/g0..g3 train, sd1/g4 test; sdxl: sdxl/g0 train, sdxl/g1 test;
  pixart: pixart/g0 train, pixart/g1 test; 48 photo crops, half on each side.
With `collections`:
  'gans' (role train, family group gan, 40 px): g0 train, g1 test, 8 own reals train /
    6 test;
  'pix' (role both, pixel diffusion, 32 px): p0 train only, no reals of its own;
  'outside' (role eval, 40 px): e0, never in the split, no reals of its own.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
HUB_MODELS = {  # model id -> (architecture, side)
    **{f"sd1/g{i}": ("sd1", "train") for i in range(4)}, "sd1/g4": ("sd1", "test"),
    "sdxl/g0": ("sdxl", "train"), "sdxl/g1": ("sdxl", "test"),
    "pixart/g0": ("pixart", "train"), "pixart/g1": ("pixart", "test"),
}
COLLECTIONS = {  # name -> (role, family group, size, {generator: side or None}, own reals)
    "gans": ("train", "gan", 40, {"g0": "train", "g1": "test"}, (8, 6)),
    "pix": ("both", "pixel_diffusion", 32, {"p0": "train"}, (0, 0)),
    "outside": ("eval", "gan", 40, {"e0": None}, (0, 0)),
}
N_FAKE = 6


def _only(relation: str, rows: list[dict]) -> list[dict]:
    from fakeimg_assets.warehouse.schemas import schema_of

    cols = schema_of(relation)
    return [{k: v for k, v in r.items() if k in cols} for r in rows]


def study_home(root: Path, *, collections: bool = False):
    """(home, resources) of a home holding split 's1' as described above."""
    from fakeimg_assets.definitions import build_resources
    from fakeimg_assets.detection.synthetic import synthetic_image
    from fakeimg_assets.lib.paths import collection_key
    from fakeimg_assets.warehouse.store import Warehouse
    from resources import ComputeResource

    home = root / "home"
    rng = np.random.default_rng(0)
    images: dict[str, list[dict]] = {"fake_images": [], "real_images": [],
                                     "collection_real_images": []}  # fmt: skip
    split, meta, coll_rows = [], [], []

    def image(table, image_id, label, source, size, **extra):
        rel = f"images/study/{image_id.replace('/', '_')}.png"
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        synthetic_image(1 if label == "fake" else 0, rng, size).save(home / rel)
        images[table].append({"image_id": image_id, "label": label, "source": source,
                              "path": rel, "width": size, "height": size, "format": "PNG",
                              "mode": "RGB", **extra})  # fmt: skip
        return rel

    def add_split(image_id, side, label, source, rel, *, arch=None, group=None, coll=None,
                  key=None):  # fmt: skip
        split.append({"split_id": "s1", "image_id": image_id, "split": side, "label": label,
                      "source": source, "architecture": arch, "family_group": group,
                      "collection": coll, "model_created_at": T0 if label == "fake" else None,
                      "path": rel, "group_key": key or source})  # fmt: skip

    for n, (model, (arch, side)) in enumerate(HUB_MODELS.items()):
        for i in range(N_FAKE):
            image_id = f"fake:{model}:{i}"
            rel = image("fake_images", image_id, "fake", model, 32)
            add_split(image_id, side, "fake", model, rel, arch=arch, group="latent_diffusion")
        meta.append({"model_id": model, "architecture": arch, "kind": "pipeline",
                     "family_group": "latent_diffusion",
                     "created_at": T0 + dt.timedelta(days=n)})  # fmt: skip
    for i in range(48):
        image_id = f"real:photos:{i}"
        rel = image("real_images", image_id, "real", "photos", 32, photo_id=f"photos:{i // 2}")
        add_split(image_id, "test" if (i // 2) % 2 else "train", "real", "photos", rel,
                  key=f"photos:{i // 2}")  # fmt: skip
    for name, (role, group, size, gens, (n_train, n_test)) in (
            COLLECTIONS.items() if collections else ()):  # fmt: skip
        for gen, side in gens.items():
            model = collection_key(name, gen)
            for i in range(N_FAKE):
                image_id = f"fake:{model}:{i}"
                rel = image("fake_images", image_id, "fake", model, size)
                if side is not None:
                    add_split(image_id, side, "fake", model, rel, arch=f"{name}-arch",
                              group=group, coll=name)  # fmt: skip
            meta.append({"model_id": model, "architecture": f"{name}-arch", "kind": "collection",
                         "collection": name, "family_group": group, "created_at": T0})  # fmt: skip
            coll_rows.append({"collection": name, "generator": gen, "model_id": model,
                              "generator_name": gen, "role": role, "family_group": group,
                              "architecture": f"{name}-arch", "n_images": N_FAKE,
                              "n_real": n_train + n_test, "source": f"/src/{name}",
                              "source_kind": "folder", "revision": "0" * 64,
                              "added_at": T0})  # fmt: skip
        for i in range(n_train + n_test):
            source = f"collection--{name}"
            image_id = f"real:{source}:{i}"
            rel = image("collection_real_images", image_id, "real", source, size,
                        photo_id=f"{source}:{i:016x}")  # fmt: skip
            add_split(image_id, "train" if i < n_train else "test", "real", source, rel,
                      coll=name, key=f"{source}:{i:016x}")  # fmt: skip
    wh = Warehouse(home)
    for table, rows in images.items():
        if rows:
            wh.write(table, "study", _only(table, rows))
    wh.write("model_metadata", "study", _only("model_metadata", meta))
    wh.write("model_stats", "study", [{"model_id": m["model_id"], "n_images": N_FAKE,
                                       "quarantined": False} for m in meta])  # fmt: skip
    if coll_rows:
        wh.write("collections", "study", _only("collections", coll_rows))
    wh.write("detector_splits", "s1", _only("detector_splits", split))
    wh.write("split_versions", "s1", [{"split_id": "s1", "created_at": T0}])
    resources = build_resources(home=str(home), endpoint="http://127.0.0.1:9",
                                compute=ComputeResource(device="cpu", torch_threads=1))  # fmt: skip
    return home, resources
