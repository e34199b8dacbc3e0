"""The SDXL-style world family: trains like sd1 but is conditioned exactly as
`StableDiffusionXLPipeline` samples (two CLIP encoders, pooled + time ids, zeros for the
empty prompt), saves repos the platform plans, and is a pure function of its seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakeimg_assets.testbed.world.build import build_world, finetune_steps
from fakeimg_assets.testbed.world.checks import divergence, high_freq_energy, sample
from fakeimg_assets.testbed.world.spec import default_world
from tests.helpers.world import STEPS, SmallWorld, weight_hashes

BASE, FINETUNE = "world/sdxl-base-0", "world/sdxl-finetune-0"


def _load(repo: Path):
    from diffusers import StableDiffusionXLPipeline

    return StableDiffusionXLPipeline.from_pretrained(repo, use_safetensors=True)


@pytest.mark.slow
def test_base_learns_and_the_finetune_starts_from_it(small_world: SmallWorld) -> None:
    import yaml

    root, built = small_world.root, small_world.family("sdxl")
    assert [b.model_id for b in built] == [BASE, FINETUNE]
    assert [b.steps for b in built] == [STEPS, finetune_steps(STEPS)]
    assert built[0].last_loss < 0.8 * built[0].first_loss, "the base did not learn"
    assert built[1].first_loss < built[0].first_loss  # continued from the base's weights
    assert (root / "grid-sdxl.png").is_file()
    card = yaml.safe_load((root / FINETUNE / "README.md").read_text().split("---")[1])
    assert card["base_model"] == BASE
    meta = json.loads((root / FINETUNE / ".hub.json").read_text())
    assert "diffusers:StableDiffusionXLPipeline" in meta["tags"]


@pytest.mark.slow
def test_trained_samples_beat_a_random_twin(small_world: SmallWorld) -> None:
    import torch

    from fakeimg_assets.testbed.world.sdxl import random_twin

    root, spec = small_world.root, small_world.spec
    twin = random_twin(small_world.generator(BASE), spec.seed, spec.image_size)
    pipe = _load(root / BASE)
    with torch.no_grad():
        trained, noise = sample(pipe, 8), sample(twin, 8)
    assert trained.shape == (8, 32, 32, 3)
    assert divergence(trained) is None
    hf_trained, hf_twin = high_freq_energy(trained), high_freq_energy(noise)
    assert hf_trained < 0.5 * hf_twin, (hf_trained, hf_twin)


@pytest.mark.slow
def test_training_conditioning_is_what_the_pipeline_samples_with(small_world: SmallWorld) -> None:
    import torch

    from fakeimg_assets.testbed.world import sdxl

    pipe = _load(small_world.root / BASE)
    parts = sdxl.FamilyParts(
        pipe.vae, pipe.text_encoder, pipe.tokenizer, pipe.text_encoder_2, pipe.tokenizer_2, 0.0
    )
    prompts = ["a close-up photo of a tabby cat", "a cup of coffee"]
    with torch.no_grad():
        emb, neg, pooled, neg_pooled = pipe.encode_prompt(
            prompts, device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True
        )
    hidden, pool = sdxl.prompt_embeddings(parts, prompts)
    assert torch.equal(hidden, emb) and torch.equal(pool, pooled)
    # force_zeros_for_empty_prompt: the unconditional branch samples with zeros, so the
    # dropped captions train with the all-zeros row
    assert not neg.any() and not neg_pooled.any()
    packed, rows = sdxl.caption_conditioning(parts, [prompts[1], prompts[0], prompts[1]])
    assert rows == [1, 0, 1]
    h, p = sdxl.unpack(packed)
    assert torch.equal(h[rows], emb[[1, 0, 1]]) and torch.equal(p[rows], pooled[[1, 0, 1]])
    assert not packed[-1].any()
    ids = pipe._get_add_time_ids(
        (32, 32), (0, 0), (32, 32), dtype=torch.float32,
        text_encoder_projection_dim=pipe.text_encoder_2.config.projection_dim,
    )
    assert tuple(ids[0].tolist()) == sdxl.time_ids(32)


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
    assert pipe.config.force_zeros_for_empty_prompt is True
    assert pipe.unet.config.addition_embed_type == "text_time"
    assert pipe.unet.config.down_block_types[0] == "DownBlock2D"  # no attention at 8 x 8
    assert tuple(pipe.vae.config.block_out_channels) != _load_sd1_vae_channels()
    with HubServer(root) as server:
        hub = HubResource(endpoint=server.url, cache_dir=str(tmp_path / "cache"))
        for model_id in (BASE, FINETUNE):
            remote = fetch_plan(hub, model_id)
            assert remote.plan.pipeline_class == "StableDiffusionXLPipeline"
            assert remote.native_px == 32
            assert not any(f.endswith(".bin") for f in remote.plan.files)
            assert any(f.startswith("text_encoder_2/") for f in remote.plan.files)


def _load_sd1_vae_channels() -> tuple[int, ...]:
    from fakeimg_assets.testbed.world.sd1 import new_vae

    return tuple(new_vae(0, 32).config.block_out_channels)


@pytest.mark.slow
def test_same_seed_gives_byte_identicalweight_hashes(small_world: SmallWorld, tmp_path: Path) -> None:
    spec = default_world(2, seed=5, families=("sdxl",))
    build_world(tmp_path / "a", spec, steps=2, vae_steps=2)  # two steps: optimizer state too
    build_world(tmp_path / "b", spec, steps=2, vae_steps=2)
    a, b = weight_hashes(tmp_path / "a"), weight_hashes(tmp_path / "b")
    assert len(a) == 8 and a == b  # vae, 2 text encoders, unet x 2 generators
    unet = f"{BASE}/unet/diffusion_pytorch_model.safetensors"
    assert a[unet] != weight_hashes(small_world.root)[unet]  # another seed and step count: other weights
