"""SD3-style family: a flow-matching MMDiT (SD3Transformer2DModel) over a 16-channel VAE.

As real SD3: two frozen CLIP text encoders with projection (their penultimate hidden states
concatenated as the joint-attention context, their projections concatenated as the pooled
vector), no T5 (the pipeline then appends 256 zero tokens, and training sees the same zeros),
a 16-channel AutoencoderKL whose latents are shifted and scaled (`shift_factor`,
`scaling_factor`, set here from the trained latents' mean and std), and the rectified-flow
objective (`world/flow.py`, logit-normal noise levels as SD3). Training embeddings come from
the assembled pipeline's own `encode_prompt`, so they are what sampling computes.
The shipped `FlowMatchEulerDiscreteScheduler` keeps the zoo's per-seed `shift` (1, 2 or 3):
logit-normal training covers every noise level, so any of these shifts samples sensibly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fakeimg_assets.testbed.world.flow import train_flow
from fakeimg_assets.testbed.world.photos import generator_pool, sample_crops
from fakeimg_assets.testbed.world.sd1 import BATCH, VAE_SCALE, n_crops
from fakeimg_assets.testbed.world.spec import GeneratorSpec
from fakeimg_assets.testbed.world.train import encode_latents, fit_family_autoencoder, frozen
from fakeimg_assets.testbed.zoo.components import seed_component, tiny_clip_text, zoo_scheduler
from fakeimg_assets.testbed.zoo.tokenizers import make_clip_tokenizer

LATENT_CHANNELS = 16  # as SD3's VAE
PATCH_SIZE = 1  # 8 x 8 latents -> 64 image tokens
TIMESTEP_SAMPLING = "logit_normal"


@dataclass
class FamilyParts:
    """What every SD3 generator shares: trained VAE, two frozen CLIP encoders, tokenizers."""
    vae: Any
    text_encoder: Any
    tokenizer: Any
    text_encoder_2: Any
    tokenizer_2: Any
    vae_loss: float


def new_vae(seed: int, image_size: int) -> Any:
    """An untrained 3-level, 16-channel AutoencoderKL (scale factor 4), SD3-style (no quant
    convs); shift and scale are placeholders until `set_latent_stats`."""
    from diffusers import AutoencoderKL

    seed_component(seed, "world-sd3-vae")
    return AutoencoderKL(
        in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 32), layers_per_block=1, norm_num_groups=8,
        latent_channels=LATENT_CHANNELS, sample_size=image_size, use_quant_conv=False,
        use_post_quant_conv=False, scaling_factor=1.0, shift_factor=0.0,
    )


def new_transformer(seed: int, image_size: int) -> Any:
    """An untrained 2-layer MMDiT (64 wide) over 8 x 8 latents, patch size 1."""
    from diffusers import SD3Transformer2DModel

    seed_component(seed, "world-sd3-transformer")
    return SD3Transformer2DModel(
        sample_size=image_size // VAE_SCALE, patch_size=PATCH_SIZE,
        in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, num_layers=2,
        attention_head_dim=16, num_attention_heads=4,
        joint_attention_dim=64,  # both CLIP penultimate states (32 + 32), as the pipeline pads
        caption_projection_dim=64, pooled_projection_dim=64,  # both CLIP projections (32 + 32)
        pos_embed_max_size=16,
    )


def new_text_encoders(seed: int) -> tuple[Any, Any, Any, Any]:
    """Two tiny seeded CLIP encoders with projection and their tokenizers, as the zoo's SD3."""
    return (
        tiny_clip_text(seed, "world-sd3-text", with_projection=True), make_clip_tokenizer(),
        tiny_clip_text(seed, "world-sd3-text-2", with_projection=True),
        make_clip_tokenizer(pad_token="!"),
    )


def inference_scheduler(name: str, seed: int) -> Any:
    """The shipped scheduler: the zoo's SD3 config for `name` (flow-match shift by seed)."""
    return zoo_scheduler(name, "sd3", seed)


def set_latent_stats(vae: Any, images: Any, seed: int) -> tuple[float, float]:
    """Set `shift_factor` = mean and `scaling_factor` = 1/std of sampled latents, so the
    denoiser trains on (z - shift) * scale ~ zero mean, unit variance, as SD3's were chosen."""
    import torch

    mean, std = encode_latents(vae, images)
    z = mean + std * torch.randn(mean.shape, generator=torch.Generator().manual_seed(seed))
    shift, scale = round(float(z.mean()), 5), round(1.0 / float(z.std()), 5)
    vae.register_to_config(shift_factor=shift, scaling_factor=scale)
    return shift, scale


def family_parts(family: str, world_seed: int, image_size: int, *, vae_steps: int) -> FamilyParts:
    """Train the family's own 16-channel VAE on crops of the generator pool; make its two
    frozen CLIP text encoders."""
    vae = new_vae(world_seed, image_size)
    images, loss = fit_family_autoencoder(vae, image_size, vae_steps=vae_steps, batch=BATCH,
                                          crop_seed=world_seed + 17, train_seed=world_seed + 23)
    set_latent_stats(vae, images[:512], world_seed + 29)
    te, tok, te2, tok2 = new_text_encoders(world_seed)
    frozen(vae, te, te2)
    return FamilyParts(vae, te, tok, te2, tok2, loss)


def prompt_embeddings(pipe: Any, captions: Sequence[str]) -> tuple[Any, Any, list[int]]:
    """Joint-attention states and pooled vectors of each unique caption plus "" (last), from
    the pipeline's own `encode_prompt` (CLIP penultimate states + 256 zero "T5" tokens);
    returns them and each caption's row index."""
    import torch

    unique = sorted(set(captions)) + [""]
    with torch.no_grad():
        states, _, pooled, _ = pipe.encode_prompt(
            prompt=unique, prompt_2=None, prompt_3=None, do_classifier_free_guidance=False
        )
    row = {c: i for i, c in enumerate(unique)}
    return states, pooled, [row[c] for c in captions]


def train_denoiser(
    spec: GeneratorSpec, parts: FamilyParts, image_size: int, *, steps: int,
    init_state: dict[str, Any] | None = None,
) -> tuple[Any, list[float]]:
    """Train (or, from a base's `init_state`, continue training) one generator's MMDiT."""
    images, captions = sample_crops(
        generator_pool(spec.photos), n_crops(steps), image_size, seed=spec.seed
    )
    latents = encode_latents(parts.vae, images)
    transformer = new_transformer(spec.seed, image_size)
    cond = prompt_embeddings(assemble(spec, parts, transformer), captions)
    if init_state is not None:
        transformer.load_state_dict(init_state)
    transformer.train()
    params = list(transformer.parameters())

    def velocity(x: Any, t: Any, states: Any, pooled: Any) -> Any:
        return transformer(
            hidden_states=x, timestep=t, encoder_hidden_states=states,
            pooled_projections=pooled, return_dict=False,
        )[0]

    cfg = parts.vae.config
    losses = train_flow(
        velocity, params, latents, cond, steps=steps, seed=spec.seed + 1, batch=BATCH,
        lr=5e-4 if init_state is not None else 1e-3, shift=cfg.shift_factor,
        scaling=cfg.scaling_factor, sampling=TIMESTEP_SAMPLING,
    )
    transformer.eval()
    return transformer, losses


def assemble(spec: GeneratorSpec, parts: FamilyParts, transformer: Any) -> Any:
    """The StableDiffusion3Pipeline saved for `spec` (no T5: the recipe allows it absent)."""
    from diffusers import StableDiffusion3Pipeline

    return StableDiffusion3Pipeline(
        transformer=transformer, scheduler=inference_scheduler(spec.scheduler, spec.seed),
        vae=parts.vae, text_encoder=parts.text_encoder, tokenizer=parts.tokenizer,
        text_encoder_2=parts.text_encoder_2, tokenizer_2=parts.tokenizer_2,
        text_encoder_3=None, tokenizer_3=None,
    )


def random_twin(spec: GeneratorSpec, world_seed: int, image_size: int) -> Any:
    """Same config as a trained generator, nothing trained: the baseline tests compare to."""
    parts = FamilyParts(new_vae(world_seed, image_size), *new_text_encoders(world_seed),
                        vae_loss=float("nan"))
    return assemble(spec, parts, new_transformer(spec.seed, image_size))
