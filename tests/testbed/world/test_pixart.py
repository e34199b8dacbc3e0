"""The PixArt (DiT) world family: trains, conditions on T5 states exactly as the pipeline
encodes prompts, fine-tunes from its base, loads through the platform, and is seeded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakeimg_assets.testbed.world import pixart
from fakeimg_assets.testbed.world.checks import divergence, high_freq_energy, sample
from fakeimg_assets.testbed.world.spec import default_world
from tests.helpers.world import SmallWorld

BASE, FINETUNE = "world/pixart-base-0", "world/pixart-finetune-0"


def _load(repo: Path):
    from diffusers import PixArtAlphaPipeline

    return PixArtAlphaPipeline.from_pretrained(repo, use_safetensors=True)


@pytest.mark.slow
def test_trained_samples_beat_a_random_twin(small_world: SmallWorld) -> None:
    import torch

    root, spec, built = small_world.root, small_world.spec, small_world.family("pixart")
    twin = pixart.random_twin(small_world.generator(BASE), spec.seed, spec.image_size)
    pipe = _load(root / BASE)
    with torch.no_grad():
        trained, noise = sample(pipe, 8), sample(twin, 8)
    assert divergence(trained) is None
    hf_trained, hf_twin = high_freq_energy(trained), high_freq_energy(noise)
    assert hf_trained < 0.5 * hf_twin, (hf_trained, hf_twin)
    assert built[0].last_loss < 0.8 * built[0].first_loss, "the base did not learn"
    assert (root / "grid-pixart.png").is_file()


@pytest.mark.slow
def test_finetune_declares_its_base_and_starts_from_it(small_world: SmallWorld) -> None:
    import yaml

    root, built = small_world.root, small_world.family("pixart")
    front = yaml.safe_load((root / FINETUNE / "README.md").read_text().split("---")[1])
    assert front["base_model"] == BASE
    assert "base_model" not in yaml.safe_load((root / BASE / "README.md").read_text().split("---")[1])
    meta = json.loads((root / FINETUNE / ".hub.json").read_text())
    assert "diffusers:PixArtAlphaPipeline" in meta["tags"]
    assert built[1].first_loss < built[0].first_loss  # continued from the base's weights


@pytest.mark.slow
def test_training_states_are_what_encode_prompt_gives(small_world: SmallWorld) -> None:
    """Captions (mixed case) and "" reach the DiT exactly as the pipeline encodes prompts:
    lower-cased, 120 tokens, T5 run with the attention mask, the mask passed along."""
    import torch

    pipe = _load(small_world.root / BASE)
    caption = "A Close-up Photo of a tabby CAT"
    packed, rows = pixart.caption_states(pipe.tokenizer, pipe.text_encoder, [caption])
    states, mask = pixart._unpack(packed)
    with torch.no_grad():
        emb, emb_mask, neg, neg_mask = pipe.encode_prompt(caption, negative_prompt="")
    assert rows == [0] and states.shape[1] == pixart.MAX_SEQUENCE_LENGTH
    assert torch.equal(mask[0].long(), emb_mask[0].long())
    assert torch.equal(mask[1].long(), neg_mask[0].long())  # "" is the last row
    assert torch.allclose(states[0], emb[0], atol=1e-6)
    assert torch.allclose(states[1], neg[0], atol=1e-6)


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
    assert pipe.scheduler.config.beta_schedule == "linear"
    assert pipe.scheduler.config.beta_end == pixart.noise_scheduler().config.beta_end
    assert pipe.transformer.config.out_channels == 2 * pipe.vae.config.latent_channels
    with HubServer(root) as server:
        hub = HubResource(endpoint=server.url, cache_dir=str(tmp_path / "cache"))
        for model_id in (BASE, FINETUNE):
            remote = fetch_plan(hub, model_id)
            assert remote.plan.pipeline_class == "PixArtAlphaPipeline"
            assert remote.native_px == 32
            files = remote.plan.files
            assert not any(f.endswith(".bin") for f in files)
            assert any(f.startswith("tokenizer/") for f in files)
            assert "text_encoder/model.safetensors" in files


def _state_bytes(*modules) -> list[bytes]:
    return [t.numpy().tobytes() for m in modules for t in m.state_dict().values()]


@pytest.mark.slow
def test_same_seed_gives_byte_identical_weights(small_world: SmallWorld) -> None:
    spec = default_world(1, seed=5, families=("pixart",)).generators[0]
    runs = []
    for _ in range(2):
        parts = pixart.family_parts("pixart", 5, 32, vae_steps=2)
        dit, _ = pixart.train_denoiser(spec, parts, 32, steps=2)  # two: optimizer state too
        runs.append(_state_bytes(parts.vae, parts.text_encoder, dit))
    assert runs[0] == runs[1]
    trained_base = _load(small_world.root / BASE).transformer  # another seed and step count
    assert _state_bytes(trained_base) != runs[0][-len(_state_bytes(trained_base)) :]
