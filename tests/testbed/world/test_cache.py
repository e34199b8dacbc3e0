"""A built world is reused while nothing it depends on changed, and rebuilt when anything did.

The marker `world.json` is written last; a tampered file, other step counts or a smaller
world all rebuild, and a smaller world's leftovers are removed rather than served.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakeimg_assets.testbed.world.build import build_world
from fakeimg_assets.testbed.world.cache import WORLD_MANIFEST
from fakeimg_assets.testbed.world.spec import default_world

pytestmark = pytest.mark.slow  # builds and rebuilds worlds

SD1 = ("sd1",)


def _mtimes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns
            for p in root.rglob("*.safetensors")}  # fmt: skip


def test_world_build_is_cached_and_invalidated(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(2)
    root = tmp_path / "w"
    spec = default_world(2, families=SD1)
    first = build_world(root, spec, steps=3, vae_steps=3)
    before = _mtimes(root)
    assert (root / "datasets/world/photos/metadata.csv").is_file()
    manifest = json.loads((root / WORLD_MANIFEST).read_text())
    assert len(manifest["cache_key"]) == 64
    assert manifest["files"] and not any(p.startswith("datasets/") for p in manifest["files"])

    # the photos dataset holds no weights: rewritten on every call, even from the cache
    table = root / "datasets/world/photos/metadata.csv"
    text = table.read_text()
    table.write_text("file_name,text\n")
    logs: list[str] = []
    again = build_world(root, spec, steps=3, vae_steps=3, log=logs.append)
    assert _mtimes(root) == before  # nothing retrained or rewritten
    assert any("up to date" in m for m in logs)
    assert table.read_text() == text
    assert [b.model_id for b in again] == [b.model_id for b in first]
    assert [b.last_loss for b in again] == [b.last_loss for b in first]

    weights = root / "world/sd1-finetune-0/unet/diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)  # tampered: same size
    logs.clear()
    build_world(root, spec, steps=3, vae_steps=3, log=logs.append)
    assert not any("up to date" in m for m in logs)
    assert json.loads((root / WORLD_MANIFEST).read_text())["files"] == manifest["files"]

    logs.clear()
    build_world(root, default_world(1, families=SD1), steps=3, vae_steps=3, log=logs.append)
    assert not (root / "world/sd1-finetune-0").exists()  # not part of the smaller world
    assert any("removed world/sd1-finetune-0" in m for m in logs)

    build_world(root, default_world(1, families=SD1), steps=4, vae_steps=3)
    assert _mtimes(root)["world/sd1-base-0/unet/diffusion_pytorch_model.safetensors"] != \
        before["world/sd1-base-0/unet/diffusion_pytorch_model.safetensors"]  # other steps


def test_an_interrupted_rebuild_is_not_taken_for_a_complete_one(tmp_path: Path) -> None:
    root = tmp_path / "w"
    spec = default_world(1, families=SD1)
    build_world(root, spec, steps=2, vae_steps=2)
    (root / WORLD_MANIFEST).unlink()  # what a crash before the marker leaves behind
    logs: list[str] = []
    build_world(root, spec, steps=2, vae_steps=2, log=logs.append)
    assert not any("up to date" in m for m in logs)
    assert (root / WORLD_MANIFEST).is_file()
