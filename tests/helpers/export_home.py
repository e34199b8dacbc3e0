"""A tiny home with one split, written straight into the warehouse: fakes of four
generators (redistributable, 'other'-licensed, gated, quarantined) and reals, with real
PNG files in the image store. Enough for the export's fast tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from pathlib import Path

from PIL import Image

from resources import WarehouseResource

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SPLIT = "split-tiny"
# model -> (licence, gated, quarantined, architecture)
MODELS = {
    "org/open-a": ("apache-2.0", "false", False, "sd1"),
    "org/open-b": ("creativeml-openrail-m", "false", False, "sdxl"),
    "org/other-c": ("other", "false", False, "sd3"),
    "org/gated-d": ("mit", "auto", False, "sd1"),
    "org/bad-e": ("mit", "false", True, "sd1"),
}
SIDES = {"org/open-a": "train", "org/open-b": "test", "org/other-c": "train",
         "org/gated-d": "test", "org/bad-e": "train"}
PER_MODEL = 3
REALS = 6


def png(seed: int, size: int = 16) -> bytes:
    img = Image.new("RGB", (size, size), ((seed * 37) % 256, (seed * 91) % 256, seed % 256))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def build_export_home(home: Path) -> dict[str, list[str]]:
    """Write the tiny home; returns `{split: [image_id, ...]}` of the split."""
    wh = WarehouseResource(home=str(home))
    split_rows, sides, seed = [], {"train": [], "test": []}, 0
    meta, stats = [], []
    for model, (lic, gated, quarantined, arch) in MODELS.items():
        slug = model.replace("/", "--")
        rows = []
        for i in range(PER_MODEL):
            seed += 1
            data = png(seed)
            rel = f"images/fake/{slug}/v1/{i:05d}.png"
            (home / rel).parent.mkdir(parents=True, exist_ok=True)
            (home / rel).write_bytes(data)
            iid = f"fake:{model}:{i}"
            rows.append({"image_id": iid, "label": "fake", "source": model, "path": rel,
                         "sha256": hashlib.sha256(data).hexdigest(), "width": 16, "height": 16,
                         "format": "PNG", "mode": "RGB", "file_bytes": len(data),
                         "prompt": f"a photo number {i}", "seed": seed, "steps": 3,
                         "guidance_scale": 7.5, "scheduler": "DDIMScheduler", "revision": "a" * 40,
                         "pipeline_class": "StableDiffusionPipeline", "architecture": arch,
                         "prompt_id": f"p{i}", "image_index": i, "batch_size": 2,
                         "dtype": "float32", "device": "cpu", "torch_threads": 1 + i % 2,
                         "library_versions": '{"torch": "2.14.1"}', "created_at": NOW})
            split_rows.append({"split_id": SPLIT, "image_id": iid, "split": SIDES[model],
                               "label": "fake", "source": model, "architecture": arch,
                               "path": rel, "family_group": "latent_diffusion"})
            sides[SIDES[model]].append(iid)
        wh.write("fake_images", f"fake--{slug}", rows)
        meta.append({"model_id": model, "revision": "a" * 40, "architecture": arch,
                     "license": lic, "gated": gated, "kind": "pipeline",
                     "family_group": "latent_diffusion", "fetched_at": NOW,
                     "pipeline_class": "StableDiffusionPipeline"})
        stats.append({"model_id": model, "n_images": PER_MODEL, "quarantined": quarantined,
                      "quarantine_reason": "black images" if quarantined else None,
                      "computed_at": NOW})
    reals = []
    for i in range(REALS):
        data = png(100 + i)
        rel = f"images/real/demo/v1/{i:05d}.png"
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_bytes(data)
        iid = f"real:demo:{i}"
        side = "train" if i % 2 == 0 else "test"
        reals.append({"image_id": iid, "label": "real", "source": "demo", "path": rel,
                      "sha256": hashlib.sha256(data).hexdigest(), "width": 16, "height": 16,
                      "format": "PNG", "mode": "RGB", "file_bytes": len(data),
                      "prompt": f"caption {i}", "origin": f"photo{i // 2}.jpg#crop=0,0,16,16",
                      "photo_id": f"demo:{i // 2:016d}", "created_at": NOW})
        split_rows.append({"split_id": SPLIT, "image_id": iid, "split": side, "label": "real",
                           "source": "demo", "path": rel})
        sides[side].append(iid)
    wh.write("real_images", "demo", reals)
    wh.write("model_metadata", "all", meta)
    wh.write("model_stats", "all", stats)
    wh.write("detector_splits", SPLIT, split_rows)
    wh.write("split_versions", SPLIT, [{"split_id": SPLIT, "created_at": NOW,
                                        "test_fraction": 0.5, "seed": 0}])
    return sides
