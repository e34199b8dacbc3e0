"""The trained-generator world (issue 7): builds fast at reduced steps, really trains,
loads through diffusers and the platform's planner, and is a pure function of its seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fakeimg_assets.testbed.world.build import build_world, finetune_steps
from fakeimg_assets.testbed.world.checks import divergence, high_freq_energy, sample
from fakeimg_assets.testbed.world.photos import COLOUR_PHOTOS, detector_region, generator_region
from fakeimg_assets.testbed.world.spec import GeneratorSpec, WorldSpec, default_world, family_module
from fakeimg_assets.testbed.world.train import N_CROPS, n_crops
from tests.helpers.world import STEPS, SmallWorld, weight_hashes

BASE, FINETUNE = "world/sd1-base-0", "world/sd1-finetune-0"


def _front_matter(readme: str) -> dict[str, object]:
    import yaml

    return yaml.safe_load(readme.split("---")[1])


def test_spec_registry_and_lineage_rules() -> None:
    known = "known: \\['pixart', 'sd1', 'sd2', 'sd3', 'sdxl'\\]"
    with pytest.raises(KeyError, match=f"unknown generator family 'dit'.*{known}"):
        family_module("dit")
    with pytest.raises(KeyError, match="unknown generator family"):
        GeneratorSpec("world/x", "dit", 0, ("coffee",))
    with pytest.raises(ValueError, match="photos must be from"):
        GeneratorSpec("world/x", "sd1", 0, ("camera",))  # grayscale: not in the pool
    orphan = GeneratorSpec("world/ft", "sd1", 1, ("coffee",), base="world/base")
    with pytest.raises(ValueError, match="must come earlier"):
        WorldSpec(generators=(orphan,))
    spec = default_world(7, seed=3, families=("sd1",))
    assert spec == default_world(7, seed=3, families=("sd1",))
    assert [g.base is None for g in spec.generators] == [True, False, False] * 2 + [True]
    for g in spec.generators:
        if g.base:
            base = next(b for b in spec.generators if b.model_id == g.base)
            assert set(g.photos) != set(base.photos)  # another photo subset
            assert g.seed != base.seed


def test_generator_pool_is_pixel_disjoint_from_detector_photos() -> None:
    from fakeimg_assets.real.sources import skimage_arrays

    shipped = skimage_arrays()  # what the demo dataset repo ships, whole
    for name in COLOUR_PHOTOS:
        left, right = generator_region(name), detector_region(name)
        assert left.ndim == 3 and left.shape[2] == 3
        spread = np.ptp(left.astype(np.int16), axis=2).mean()
        assert spread > 4, f"{name} is not a colour photo"  # the platform's grayscale screen
        assert abs(left.shape[1] - right.shape[1]) <= 1
        assert np.array_equal(np.concatenate([left, right], axis=1), shipped[name][..., :3])
        assert min(left.shape[:2]) >= 32


@pytest.mark.slow
def test_small_world_builds_and_the_sd1_base_learns(small_world: SmallWorld) -> None:
    root, spec = small_world.root, small_world.spec
    built = small_world.family("sd1")
    assert [b.model_id for b in built] == [BASE, FINETUNE]
    assert [b.steps for b in built] == [STEPS, finetune_steps(STEPS)]
    assert built[0].last_loss < 0.8 * built[0].first_loss, "the base did not learn"
    assert built[1].first_loss < built[0].first_loss  # the fine-tune starts from the base
    assert (root / "grid-sd1.png").is_file()
    manifest = json.loads((root / "world.json").read_text())
    assert [g["model_id"] for g in manifest["generators"]] == [
        g.model_id for g in spec.generators]
    assert [b.model_id for b in small_world.built] == [g.model_id for g in spec.generators]


@pytest.mark.slow
def test_cards_declare_lineage(small_world: SmallWorld) -> None:
    root = small_world.root
    base = _front_matter((root / BASE / "README.md").read_text())
    ft = _front_matter((root / FINETUNE / "README.md").read_text())
    assert "base_model" not in base
    assert ft["base_model"] == BASE
    assert ft["library_name"] == "diffusers" and ft["pipeline_tag"] == "text-to-image"
    meta = json.loads((root / FINETUNE / ".hub.json").read_text())
    assert "diffusers:StableDiffusionPipeline" in meta["tags"]


@pytest.mark.slow
def test_trained_samples_beat_a_random_twin(small_world: SmallWorld) -> None:
    import torch

    from fakeimg_assets.testbed.world.sd1 import random_twin

    root, spec, base = small_world.root, small_world.spec, small_world.generator(BASE)
    twin = random_twin(base, spec.seed, spec.image_size)
    pipe = _load(root / BASE)
    with torch.no_grad():
        trained, noise = sample(pipe, 8), sample(twin, 8)
    assert divergence(trained) is None
    hf_trained, hf_twin = high_freq_energy(trained), high_freq_energy(noise)
    assert hf_trained < 0.5 * hf_twin, (hf_trained, hf_twin)

    saved = small_world.report(BASE).high_freq_energy
    assert saved == pytest.approx(high_freq_energy(sample(pipe, 8, seed=base.seed)))
    assert n_crops(STEPS) <= N_CROPS


def test_divergence_check_catches_saturated_and_constant() -> None:
    rng = np.random.default_rng(0)
    assert divergence(rng.random((4, 32, 32, 3), dtype=np.float32)) is None
    assert "saturated" in divergence(np.ones((4, 32, 32, 3), np.float32))
    assert "constant" in divergence(np.full((4, 32, 32, 3), 0.4, np.float32))
    assert "non-finite" in divergence(np.full((4, 32, 32, 3), np.nan, np.float32))
    same = np.repeat(rng.random((1, 32, 32, 3), dtype=np.float32), 4, axis=0)
    assert "collapsed" in divergence(same)


def _load(repo: Path):
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline.from_pretrained(repo, use_safetensors=True)


@pytest.mark.slow
def test_saved_repo_loads_and_the_platform_plans_it(
    small_world: SmallWorld, tmp_path: Path
) -> None:
    from fakeimg_assets.sampling.remote_plan import fetch_plan
    from fakeimg_assets.testbed.local_hub.server import HubServer
    from resources import HubResource

    root = small_world.root
    pipe = _load(root / FINETUNE)
    assert type(pipe.scheduler).__name__ == small_world.generator(FINETUNE).scheduler
    with HubServer(root) as server:
        hub = HubResource(endpoint=server.url, cache_dir=str(tmp_path / "cache"))
        for model_id in (BASE, FINETUNE):
            remote = fetch_plan(hub, model_id)
            assert remote.plan.pipeline_class == "StableDiffusionPipeline"
            assert remote.native_px == 32
            assert not any(f.endswith(".bin") for f in remote.plan.files)


@pytest.mark.slow
def test_same_seed_gives_byte_identicalweight_hashes(small_world: SmallWorld, tmp_path: Path) -> None:
    spec = default_world(2, seed=5, families=("sd1",))
    build_world(tmp_path / "a", spec, steps=2, vae_steps=2)  # two steps: optimizer state too
    build_world(tmp_path / "b", spec, steps=2, vae_steps=2)
    a, b = weight_hashes(tmp_path / "a"), weight_hashes(tmp_path / "b")
    assert len(a) == 6 and a == b  # vae, text encoder, unet x 2 generators
    unet = f"{BASE}/unet/diffusion_pytorch_model.safetensors"
    assert a[unet] != weight_hashes(small_world.root)[unet]  # another seed and steps: other weights


def test_world_photos_are_bands_of_the_right_halves_on_both_sides(tmp_path: Path) -> None:
    """Each right half ships as `BANDS` pixel-exact bands, so every scene reaches both the
    detector's train and test sides (whole photos let a detector learn which scenes are real)."""
    import csv

    from PIL import Image

    from fakeimg_assets.real.screen import photo_id_of
    from fakeimg_assets.splits.sides import photo_side
    from fakeimg_assets.testbed.world.dataset import BANDS, WORLD_PHOTOS_ID, write_world_photos

    repo = write_world_photos(tmp_path)
    with (repo / "metadata.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(COLOUR_PHOTOS) * BANDS
    sides: dict[str, set[str]] = {}
    for name in COLOUR_PHOTOS:
        files = [repo / "images" / f"{name}-right-{i}.png" for i in range(BANDS)]
        parts = [np.asarray(Image.open(f).convert("RGB")) for f in files]
        assert np.array_equal(np.concatenate(parts, axis=0), detector_region(name))
        assert min(p.shape[0] for p in parts) >= 64  # the platform's tiny-photo screen
        source = WORLD_PHOTOS_ID.replace("/", "--")
        sides[name] = {photo_side(photo_id_of(source, f.read_bytes())) for f in files}
    both = [n for n, s in sides.items() if s == {"train", "test"}]
    assert len(both) >= len(COLOUR_PHOTOS) // 2, sides  # default split seed
