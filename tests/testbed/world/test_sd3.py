"""The SD3 family of the trained world: a flow-matching MMDiT over its own 16-channel VAE,
trained with the objective the shipped scheduler integrates, served and planned like sd1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakeimg_assets.testbed.world.build import build_world, finetune_steps
from fakeimg_assets.testbed.world.checks import divergence, high_freq_energy, sample
from fakeimg_assets.testbed.world.spec import default_world
from tests.helpers.world import STEPS, SmallWorld, weight_hashes

BASE, FINETUNE = "world/sd3-base-0", "world/sd3-finetune-0"


def _load(repo: Path):
    from diffusers import StableDiffusion3Pipeline

    return StableDiffusion3Pipeline.from_pretrained(
        repo, use_safetensors=True, text_encoder_3=None, tokenizer_3=None
    )


def test_flow_objective_is_what_the_scheduler_integrates() -> None:
    """With the exact velocity target, one Euler step of the shipped scheduler lands on the
    flow path at the next sigma, and the timestep it passes is sigma * 1000."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler

    from fakeimg_assets.testbed.world.flow import flow_batch, sample_t

    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0)
    sched.set_timesteps(10)
    gen = torch.Generator().manual_seed(0)
    z0, noise = torch.randn(2, 16, 8, 8, generator=gen), torch.randn(2, 16, 8, 8, generator=gen)
    i = 4
    sigma, nxt = sched.sigmas[i], sched.sigmas[i + 1]
    assert float(sched.timesteps[i]) == pytest.approx(float(sigma) * 1000, rel=1e-5)
    x_t, v = flow_batch(z0, noise, sigma.repeat(2))
    stepped = sched.step(v, sched.timesteps[i], x_t).prev_sample
    expected, _ = flow_batch(z0, noise, nxt.repeat(2))
    assert torch.allclose(stepped, expected, atol=1e-5)

    t = sample_t(4096, gen, "logit_normal")
    assert 0 < float(t.min()) and float(t.max()) < 1 and abs(float(t.median()) - 0.5) < 0.05
    with pytest.raises(ValueError, match="unknown timestep sampling 'cosine'.*uniform"):
        sample_t(4, gen, "cosine")


def test_training_embeddings_are_the_pipelines_prompt_encoding() -> None:
    """CLIP penultimate states of both encoders (32 + 32) then 256 zero tokens (no T5), the
    empty prompt last, exactly what `encode_prompt` gives at sampling time."""
    import torch

    from fakeimg_assets.testbed.world.sd3 import prompt_embeddings, random_twin

    spec = default_world(1, families=("sd3",)).generators[0]
    pipe = random_twin(spec, 0, 32)
    states, pooled, rows = prompt_embeddings(pipe, ["a cat", "a rocket", "a cat"])
    assert rows == [0, 1, 0] and states.shape == (3, 77 + 256, 64) and pooled.shape == (3, 64)
    assert not states[:, 77:].any() and states[:, :77].abs().sum() > 0
    with torch.no_grad():
        ref, _, ref_pooled, _ = pipe.encode_prompt("", None, None, do_classifier_free_guidance=False)
    assert torch.allclose(states[2], ref[0], atol=1e-5)  # batched vs single: float noise
    assert torch.allclose(pooled[2], ref_pooled[0], atol=1e-5)


@pytest.mark.slow
def test_two_generator_world_trains_and_the_finetune_continues_its_base(
    small_world: SmallWorld,
) -> None:
    import yaml

    root, built = small_world.root, small_world.family("sd3")
    assert [b.model_id for b in built] == [BASE, FINETUNE]
    assert [b.steps for b in built] == [STEPS, finetune_steps(STEPS)]
    assert built[0].last_loss < 0.8 * built[0].first_loss, "the base did not learn"
    assert built[1].first_loss < built[0].first_loss  # the fine-tune starts from the base
    assert (root / "grid-sd3.png").is_file()
    ft = yaml.safe_load((root / FINETUNE / "README.md").read_text().split("---")[1])
    base = yaml.safe_load((root / BASE / "README.md").read_text().split("---")[1])
    assert ft["base_model"] == BASE and "base_model" not in base
    meta = json.loads((root / FINETUNE / ".hub.json").read_text())
    assert "diffusers:StableDiffusion3Pipeline" in meta["tags"]


@pytest.mark.slow
def test_trained_samples_beat_a_random_twin(small_world: SmallWorld) -> None:
    import torch

    from fakeimg_assets.testbed.world.sd3 import random_twin

    root, spec, base = small_world.root, small_world.spec, small_world.generator(BASE)
    pipe = _load(root / BASE)
    with torch.no_grad():
        trained = sample(pipe, 8, seed=base.seed)  # the seed the build checked with
        noise = sample(random_twin(base, spec.seed, spec.image_size), 8)
    assert divergence(trained) is None
    hf_trained, hf_twin = high_freq_energy(trained), high_freq_energy(noise)
    assert hf_trained < 0.5 * hf_twin, (hf_trained, hf_twin)
    saved = small_world.report(BASE).high_freq_energy
    assert saved == pytest.approx(hf_trained)  # saved == what was checked


@pytest.mark.slow
def test_vae_latents_are_shifted_and_scaled_to_unit_statistics(small_world: SmallWorld) -> None:
    """The pipeline decodes latents / scaling_factor + shift_factor: both come from the
    trained latents, so what the transformer learns is ~zero mean, unit variance."""
    import torch

    from fakeimg_assets.testbed.world.photos import generator_pool, sample_crops
    from fakeimg_assets.testbed.world.train import encode_latents

    vae = _load(small_world.root / BASE).vae
    assert vae.config.latent_channels == 16 and vae.config.scaling_factor != 1.0
    images, _ = sample_crops(generator_pool(), 256, 32, seed=99)
    mean, _ = encode_latents(vae, images)
    z = (mean - vae.config.shift_factor) * vae.config.scaling_factor
    assert z.shape[1:] == (16, 8, 8)
    assert abs(float(z.mean())) < 0.15 and 0.8 < float(z.std()) < 1.2
    assert torch.isfinite(z).all()


@pytest.mark.slow
def test_saved_repo_loads_and_the_platform_plans_it(
    small_world: SmallWorld, tmp_path: Path
) -> None:
    from fakeimg_assets.sampling.remote_plan import fetch_plan
    from fakeimg_assets.testbed.local_hub.server import HubServer
    from resources import HubResource

    root = small_world.root
    pipe = _load(root / FINETUNE)
    assert type(pipe).__name__ == "StableDiffusion3Pipeline"
    assert type(pipe.scheduler).__name__ == small_world.generator(FINETUNE).scheduler
    assert pipe.text_encoder_3 is None and pipe.transformer.config.sample_size == 8
    with HubServer(root) as server:
        hub = HubResource(endpoint=server.url, cache_dir=str(tmp_path / "cache"))
        for model_id in (BASE, FINETUNE):
            remote = fetch_plan(hub, model_id)
            assert remote.plan.pipeline_class == "StableDiffusion3Pipeline"
            assert remote.native_px == 32
            assert not any(f.endswith((".bin", ".ckpt")) for f in remote.plan.files)


@pytest.mark.slow
def test_same_seed_gives_byte_identicalweight_hashes(small_world: SmallWorld, tmp_path: Path) -> None:
    spec = default_world(2, seed=5, families=("sd3",))
    build_world(tmp_path / "a", spec, steps=2, vae_steps=2)  # two steps: optimizer state too
    build_world(tmp_path / "b", spec, steps=2, vae_steps=2)
    a, b = weight_hashes(tmp_path / "a"), weight_hashes(tmp_path / "b")
    assert len(a) == 8 and a == b  # vae, 2 text encoders, transformer x 2 generators
    transformer = f"{BASE}/transformer/diffusion_pytorch_model.safetensors"
    assert a[transformer] != weight_hashes(small_world.root)[transformer]
