"""PixArt-style family: a DiT (`PixArtTransformer2DModel`) over VAE latents, T5 captions.

Like PixArt-alpha on the real Hub: a frozen T5 encoder whose hidden states reach the
transformer with their attention mask (padding never attended), linear betas 0.0001-0.02,
and a transformer with learned sigma (`out_channels` = 2 x latent channels), of which the
pipeline keeps only the first half: that half is trained on epsilon, the variance half is
left alone (the pipeline discards it). The family trains its own 3-level AutoencoderKL
(sd1's shape, seeded per family) and every generator trains only its transformer.

Training embeddings are computed exactly as `PixArtAlphaPipeline.encode_prompt` computes
them at sampling time (lower-cased captions, padded to `max_sequence_length` = 120 tokens,
T5 run with the mask), "" included for classifier-free guidance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fakeimg_assets.testbed.world.photos import generator_pool, sample_crops
from fakeimg_assets.testbed.world.sd1 import BATCH, LATENT_CHANNELS, VAE_SCALE, n_crops, new_vae
from fakeimg_assets.testbed.world.spec import GeneratorSpec
from fakeimg_assets.testbed.world.train import (
    encode_latents,
    fit_family_autoencoder,
    frozen,
    train_ddpm,
)
from fakeimg_assets.testbed.zoo.components import seed_component, tiny_t5, zoo_scheduler
from fakeimg_assets.testbed.zoo.tokenizers import make_t5_tokenizer

MAX_SEQUENCE_LENGTH = 120  # PixArtAlphaPipeline.__call__'s default, what sampling uses
PATCH_SIZE = 1  # 8 x 8 latents -> 64 tokens (patch 2 gives 16 tokens: blurrier samples)
HEADS, HEAD_DIM, LAYERS = 4, 16, 4  # width 64
T5_WIDTH = 32  # the zoo's tiny T5 (d_model)


@dataclass
class FamilyParts:
    """What every generator of the family shares: trained VAE, frozen T5 and tokenizer."""
    vae: Any
    text_encoder: Any
    tokenizer: Any
    vae_loss: float


def new_transformer(seed: int, image_size: int) -> Any:
    """An untrained PixArt DiT over 8 x 8 latents, cross-attending to T5 states (masked)."""
    from diffusers import PixArtTransformer2DModel

    seed_component(seed, "world-pixart-transformer")
    return PixArtTransformer2DModel(
        sample_size=image_size // VAE_SCALE, num_layers=LAYERS, patch_size=PATCH_SIZE,
        attention_head_dim=HEAD_DIM, num_attention_heads=HEADS, caption_channels=T5_WIDTH,
        in_channels=LATENT_CHANNELS, cross_attention_dim=HEADS * HEAD_DIM,
        out_channels=2 * LATENT_CHANNELS,  # learned sigma, as released PixArt checkpoints
        attention_bias=True, activation_fn="gelu-approximate", num_embeds_ada_norm=1000,
        norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=1e-6,
    )


def new_text_encoder(seed: int, family: str = "pixart") -> tuple[Any, Any]:
    """The zoo's tiny T5 encoder and locally built T5 tokenizer, seeded per family."""
    return tiny_t5(seed, f"world-{family}-text", d_model=T5_WIDTH), make_t5_tokenizer()


def noise_scheduler() -> Any:
    """PixArt's training noise schedule: linear betas 0.0001-0.02 over 1000 steps, the
    same betas as the zoo's PixArt inference schedulers."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        beta_start=0.0001, beta_end=0.02, beta_schedule="linear", num_train_timesteps=1000,
        prediction_type="epsilon",
    )


def inference_scheduler(name: str, prediction_type: str, seed: int) -> Any:
    """The shipped scheduler: the zoo's PixArt config for `name` (same betas as training)."""
    s = zoo_scheduler(name, "pixart", seed)
    return type(s).from_config(s.config, prediction_type=prediction_type)


def caption_states(tokenizer: Any, text_encoder: Any, captions: list[str]) -> tuple[Any, list[int]]:
    """T5 states of each unique caption plus "" (last), as `encode_prompt` makes them.

    The attention mask rides along as one extra feature (last channel), so `train_ddpm`
    can index states and mask together by row: see `_unpack`."""
    import torch

    unique = sorted(set(captions)) + [""]
    text = [c.lower().strip() for c in unique]  # encode_prompt with clean_caption=False
    tokens = tokenizer(
        text, padding="max_length", max_length=MAX_SEQUENCE_LENGTH, truncation=True,
        add_special_tokens=True, return_tensors="pt",
    )
    with torch.no_grad():
        states = text_encoder(tokens.input_ids, attention_mask=tokens.attention_mask)[0]
    packed = torch.cat([states, tokens.attention_mask[..., None].to(states.dtype)], dim=-1)
    row = {c: i for i, c in enumerate(unique)}
    return packed, [row[c] for c in captions]


def _unpack(packed: Any) -> tuple[Any, Any]:
    """(hidden states, attention mask) from `caption_states`' packed rows."""
    return packed[..., :-1], packed[..., -1]


def family_parts(family: str, world_seed: int, image_size: int, *, vae_steps: int) -> FamilyParts:
    """Train the family's own VAE on crops of the whole generator pool; make its T5."""
    vae = new_vae(world_seed, image_size, family)
    _, loss = fit_family_autoencoder(vae, image_size, vae_steps=vae_steps, batch=BATCH,
                                     crop_seed=world_seed + 17, train_seed=world_seed + 23)
    text_encoder, tokenizer = new_text_encoder(world_seed, family)
    frozen(vae, text_encoder)
    return FamilyParts(vae, text_encoder, tokenizer, loss)


def train_denoiser(
    spec: GeneratorSpec, parts: FamilyParts, image_size: int, *, steps: int,
    init_state: dict[str, Any] | None = None,
) -> tuple[Any, list[float]]:
    """Train (or, from a base's `init_state`, continue training) one generator's DiT.

    Only the first `LATENT_CHANNELS` outputs (the noise half of learned sigma) are trained.
    """
    images, captions = sample_crops(
        generator_pool(spec.photos), n_crops(steps), image_size, seed=spec.seed
    )
    latents = encode_latents(parts.vae, images)
    cond = caption_states(parts.tokenizer, parts.text_encoder, captions)
    dit = new_transformer(spec.seed, image_size)
    if init_state is not None:
        dit.load_state_dict(init_state)
    dit.train()
    params = list(dit.parameters())

    def eps(noisy: Any, t: Any, packed: Any) -> Any:
        states, mask = _unpack(packed)
        out = dit(noisy, encoder_hidden_states=states, encoder_attention_mask=mask, timestep=t,
                  added_cond_kwargs={"resolution": None, "aspect_ratio": None}).sample
        return out[:, :LATENT_CHANNELS]

    losses = train_ddpm(
        eps, params, latents, cond, noise_scheduler(), steps=steps, seed=spec.seed + 1,
        batch=BATCH, lr=5e-4 if init_state is not None else 1e-3,
        scaling=parts.vae.config.scaling_factor,
    )
    dit.eval()
    return dit, losses


def assemble(spec: GeneratorSpec, parts: FamilyParts, transformer: Any) -> Any:
    """The PixArtAlphaPipeline saved for `spec`."""
    from diffusers import PixArtAlphaPipeline

    return PixArtAlphaPipeline(
        tokenizer=parts.tokenizer, text_encoder=parts.text_encoder, vae=parts.vae,
        transformer=transformer,
        scheduler=inference_scheduler(spec.scheduler, spec.prediction_type, spec.seed),
    )


def random_twin(spec: GeneratorSpec, world_seed: int, image_size: int) -> Any:
    """Same config as a trained generator, nothing trained: the baseline tests compare to."""
    text_encoder, tokenizer = new_text_encoder(world_seed, spec.family)
    parts = FamilyParts(
        new_vae(world_seed, image_size, spec.family), text_encoder, tokenizer, float("nan")
    )
    return assemble(spec, parts, new_transformer(spec.seed, image_size))
