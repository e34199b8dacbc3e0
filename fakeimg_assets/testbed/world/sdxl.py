"""SDXL-style family: a UNet with `text_time` added conditioning and two CLIP text encoders.

Structured like `sd1` (one trained autoencoder and frozen seeded text encoders per family,
each generator trains only its UNet on the frozen VAE's latents), but with what makes SDXL
SDXL, so its artifacts differ from sd1's: no attention in the highest-resolution UNet block,
two transformer layers per attention block (`transformer_layers_per_block`), linear
attention projections, cross-attention to the concatenated penultimate hidden states of
two CLIP encoders, the second encoder's pooled projection plus the size/crop "time ids"
fed through `added_cond_kwargs`, and an autoencoder with its own seed and block widths.

Conditioning is computed exactly as `StableDiffusionXLPipeline.encode_prompt` computes it
at sampling time. The repo ships `force_zeros_for_empty_prompt=True` (as SDXL base does):
the pipeline's unconditional branch is then all zeros, so the dropped captions (10 %, as
`train_ddpm` drops them) are trained with zero hidden states and a zero pooled embedding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fakeimg_assets.testbed.world.photos import generator_pool, sample_crops
from fakeimg_assets.testbed.world.sd1 import BATCH, n_crops, noise_scheduler
from fakeimg_assets.testbed.world.spec import GeneratorSpec
from fakeimg_assets.testbed.world.train import (
    encode_latents,
    fit_family_autoencoder,
    frozen,
    train_ddpm,
)
from fakeimg_assets.testbed.zoo.components import seed_component, tiny_clip_text, zoo_scheduler
from fakeimg_assets.testbed.zoo.tokenizers import make_clip_tokenizer

LATENT_CHANNELS = 4
VAE_SCALE = 4  # three VAE levels: 32 px images <-> 8 x 8 latents
TEXT_DIM = 32  # hidden size of each tiny CLIP encoder; the UNet cross-attends to 2 x 32
POOLED_DIM = 32  # projection_dim of text_encoder_2: the pooled embedding's width
TIME_EMBED_DIM = 16  # addition_time_embed_dim: each of the 6 time ids gets 16 sinusoids


@dataclass
class FamilyParts:
    """What every generator of the family shares: trained VAE, two frozen text encoders."""
    vae: Any
    text_encoder: Any
    tokenizer: Any
    text_encoder_2: Any
    tokenizer_2: Any
    vae_loss: float


def new_vae(seed: int, image_size: int) -> Any:
    """An untrained 3-level AutoencoderKL (scale factor 4): narrower on top, wider at the
    bottom than sd1's (its own artifacts, and cheaper: the 32 x 32 level dominates)."""
    from diffusers import AutoencoderKL

    seed_component(seed, "world-sdxl-vae")
    return AutoencoderKL(
        in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(12, 24, 48), layers_per_block=1, norm_num_groups=4,
        latent_channels=LATENT_CHANNELS, sample_size=image_size, scaling_factor=0.13025,
        force_upcast=True,
    )


def new_unet(seed: int, image_size: int) -> Any:
    """An untrained SDXL-shaped UNet over 8 x 8 latents (attention only at 4 x 4)."""
    from diffusers import UNet2DConditionModel

    seed_component(seed, "world-sdxl-unet")
    return UNet2DConditionModel(
        sample_size=image_size // VAE_SCALE, in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS, block_out_channels=(32, 64), layers_per_block=1,
        norm_num_groups=8, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2), attention_head_dim=(2, 4),
        use_linear_projection=True, cross_attention_dim=2 * TEXT_DIM,
        addition_embed_type="text_time", addition_time_embed_dim=TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=6 * TIME_EMBED_DIM + POOLED_DIM,
    )


def new_text_encoders(seed: int) -> tuple[Any, Any, Any, Any]:
    """The zoo's two tiny CLIP encoders (the second with projection) and tokenizers; the
    second tokenizer pads with "!" as SDXL's does."""
    return (
        tiny_clip_text(seed, "world-sdxl-text", with_projection=False), make_clip_tokenizer(),
        tiny_clip_text(seed, "world-sdxl-text-2", with_projection=True),
        make_clip_tokenizer(pad_token="!"),
    )


def time_ids(image_size: int) -> tuple[int, ...]:
    """SDXL's added time ids at native size: original size, crop top-left, target size."""
    return (image_size, image_size, 0, 0, image_size, image_size)


def inference_scheduler(name: str, prediction_type: str, seed: int) -> Any:
    """The shipped scheduler: the zoo's SDXL config for `name` (SD's scaled-linear betas)."""
    s = zoo_scheduler(name, "sdxl", seed)
    return type(s).from_config(s.config, prediction_type=prediction_type)


def family_parts(family: str, world_seed: int, image_size: int, *, vae_steps: int) -> FamilyParts:
    """Train the family's VAE on crops of the whole generator pool; make its text encoders."""
    vae = new_vae(world_seed, image_size)
    _, loss = fit_family_autoencoder(vae, image_size, vae_steps=vae_steps, batch=BATCH,
                                     crop_seed=world_seed + 31, train_seed=world_seed + 37)
    te, tok, te2, tok2 = new_text_encoders(world_seed)
    frozen(vae, te, te2)
    return FamilyParts(vae, te, tok, te2, tok2, loss)


def prompt_embeddings(parts: FamilyParts, prompts: list[str]) -> tuple[Any, Any]:
    """(hidden states (n, 77, 64), pooled (n, 32)) exactly as SDXL's `encode_prompt`: each
    encoder's penultimate hidden states, concatenated; the pooled projection of the second."""
    import torch

    hidden = []
    pooled = None
    with torch.no_grad():
        for tok, enc in ((parts.tokenizer, parts.text_encoder),
                         (parts.tokenizer_2, parts.text_encoder_2)):
            ids = tok(prompts, padding="max_length", max_length=tok.model_max_length,
                      truncation=True, return_tensors="pt").input_ids
            out = enc(ids, output_hidden_states=True)
            if out[0].ndim == 2:
                pooled = out[0]
            hidden.append(out.hidden_states[-2])
    if pooled is None:
        raise TypeError("SDXL's second text encoder must return a pooled projection")
    return torch.cat(hidden, dim=-1), pooled


def caption_conditioning(parts: FamilyParts, captions: list[str]) -> tuple[Any, list[int]]:
    """One packed row per unique caption, plus an all-zeros unconditional row (last), as
    `train_ddpm` expects. Each row is the hidden states with the pooled embedding appended
    as one extra token (zero-padded), so `train_ddpm` can index both at once."""
    import torch

    unique = sorted(set(captions))
    hidden, pooled = prompt_embeddings(parts, unique)
    extra = torch.zeros(len(unique), 1, hidden.shape[-1])
    extra[:, 0, : pooled.shape[-1]] = pooled
    packed = torch.cat([hidden, extra], dim=1)
    packed = torch.cat([packed, torch.zeros_like(packed[:1])])  # force_zeros_for_empty_prompt
    row = {c: i for i, c in enumerate(unique)}
    return packed, [row[c] for c in captions]


def unpack(states: Any) -> tuple[Any, Any]:
    """Inverse of the packing in `caption_conditioning`: (hidden states, pooled)."""
    return states[:, :-1], states[:, -1, :POOLED_DIM]


def train_denoiser(
    spec: GeneratorSpec, parts: FamilyParts, image_size: int, *, steps: int,
    init_state: dict[str, Any] | None = None,
) -> tuple[Any, list[float]]:
    """Train (or, from a base's `init_state`, continue training) one generator's UNet."""
    import torch

    images, captions = sample_crops(
        generator_pool(spec.photos), n_crops(steps), image_size, seed=spec.seed
    )
    latents = encode_latents(parts.vae, images)
    cond = caption_conditioning(parts, captions)
    ids = torch.tensor([time_ids(image_size)], dtype=torch.float32)
    unet = new_unet(spec.seed, image_size)
    if init_state is not None:
        unet.load_state_dict(init_state)
    unet.train()

    def denoise(x: Any, t: Any, states: Any) -> Any:
        hidden, pooled = unpack(states)
        added = {"text_embeds": pooled, "time_ids": ids.expand(len(x), -1)}
        return unet(x, t, encoder_hidden_states=hidden, added_cond_kwargs=added).sample

    losses = train_ddpm(
        denoise, list(unet.parameters()), latents, cond,
        noise_scheduler(spec.prediction_type), steps=steps, seed=spec.seed + 1, batch=BATCH,
        lr=5e-4 if init_state is not None else 1e-3,
        scaling=parts.vae.config.scaling_factor,
    )
    unet.eval()
    return unet, losses


def assemble(spec: GeneratorSpec, parts: FamilyParts, unet: Any) -> Any:
    """The StableDiffusionXLPipeline saved for `spec` (zeros for the empty prompt)."""
    from diffusers import StableDiffusionXLPipeline

    return StableDiffusionXLPipeline(
        vae=parts.vae, text_encoder=parts.text_encoder, text_encoder_2=parts.text_encoder_2,
        tokenizer=parts.tokenizer, tokenizer_2=parts.tokenizer_2, unet=unet,
        scheduler=inference_scheduler(spec.scheduler, spec.prediction_type, spec.seed),
        force_zeros_for_empty_prompt=True,
    )


def random_twin(spec: GeneratorSpec, world_seed: int, image_size: int) -> Any:
    """Same config as a trained generator, nothing trained: the baseline tests compare to."""
    te, tok, te2, tok2 = new_text_encoders(world_seed)
    parts = FamilyParts(new_vae(world_seed, image_size), te, tok, te2, tok2, float("nan"))
    return assemble(spec, parts, new_unet(spec.seed, image_size))
