"""SD1-style family: latent diffusion with a UNet, a CLIP text encoder and an AutoencoderKL.

As on the real Hub, a family shares one autoencoder and one text encoder (every SD1.x
fine-tune keeps SD1.5's VAE and CLIP): both are made once per world (`family_parts`), and
each generator trains only its UNet on the frozen VAE's latents. The text encoder stays at
its seeded random weights (SD also freezes CLIP): distinct captions still give distinct
embeddings the UNet learns to attend to. Sizes are tiny so a generator trains in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fakeimg_assets.testbed.world.photos import generator_pool, sample_crops
from fakeimg_assets.testbed.world.spec import GeneratorSpec
from fakeimg_assets.testbed.world.train import (
    caption_embeddings,
    encode_latents,
    fit_family_autoencoder,
    frozen,
    n_crops,
    train_ddpm,
)
from fakeimg_assets.testbed.zoo.components import seed_component, tiny_clip_text, zoo_scheduler
from fakeimg_assets.testbed.zoo.tokenizers import make_clip_tokenizer

LATENT_CHANNELS = 4
VAE_SCALE = 4  # three VAE levels: 32 px images <-> 8 x 8 latents
BATCH = 32


@dataclass
class FamilyParts:
    """What every generator of the family shares: trained VAE, frozen text encoder."""
    vae: Any
    text_encoder: Any
    tokenizer: Any
    vae_loss: float


def new_vae(seed: int, image_size: int, family: str = "sd1") -> Any:
    """An untrained 3-level AutoencoderKL (scale factor 4), seeded per family."""
    from diffusers import AutoencoderKL

    seed_component(seed, f"world-{family}-vae")
    return AutoencoderKL(
        in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 32), layers_per_block=1, norm_num_groups=8,
        latent_channels=LATENT_CHANNELS, sample_size=image_size, scaling_factor=0.18215,
    )


def new_unet(seed: int, image_size: int) -> Any:
    """An untrained UNet2DConditionModel over 8 x 8 latents, cross-attending to CLIP."""
    from diffusers import UNet2DConditionModel

    seed_component(seed, "world-sd1-unet")
    return UNet2DConditionModel(
        sample_size=image_size // VAE_SCALE, in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS, block_out_channels=(32, 64), layers_per_block=1,
        norm_num_groups=8, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
        attention_head_dim=8,
    )


def new_text_encoder(seed: int, family: str = "sd1") -> tuple[Any, Any]:
    """The zoo's tiny CLIP text encoder and locally written tokenizer, seeded per family."""
    text_encoder = tiny_clip_text(seed, f"world-{family}-text", with_projection=False)
    return text_encoder, make_clip_tokenizer()


def noise_scheduler(prediction_type: str = "epsilon") -> Any:
    """SD1's training noise schedule (scaled-linear betas, 1000 steps)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        num_train_timesteps=1000, prediction_type=prediction_type, steps_offset=1,
    )


def inference_scheduler(name: str, prediction_type: str, seed: int) -> Any:
    """The shipped scheduler: the zoo's SD1 config for `name`, same betas as training."""
    s = zoo_scheduler(name, "sd1", seed)
    return type(s).from_config(s.config, prediction_type=prediction_type)


def family_parts(family: str, world_seed: int, image_size: int, *, vae_steps: int) -> FamilyParts:
    """Train the family's VAE on crops of the whole generator pool; make its text encoder.

    `sd1` and `sd2` (v-prediction) share this module but not their weights: each family
    seeds and trains its own autoencoder and text encoder."""
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
    """Train (or, from a base's `init_state`, continue training) one generator's UNet."""
    images, captions = sample_crops(
        generator_pool(spec.photos), n_crops(steps), image_size, seed=spec.seed
    )
    latents = encode_latents(parts.vae, images)
    cond = caption_embeddings(parts.tokenizer, parts.text_encoder, captions)
    unet = new_unet(spec.seed, image_size)
    if init_state is not None:
        unet.load_state_dict(init_state)
    unet.train()
    params = list(unet.parameters())
    losses = train_ddpm(
        lambda x, t, s: unet(x, t, encoder_hidden_states=s).sample, params, latents, cond,
        noise_scheduler(spec.prediction_type), steps=steps, seed=spec.seed + 1, batch=BATCH,
        lr=5e-4 if init_state is not None else 1e-3,
        scaling=parts.vae.config.scaling_factor,
    )
    unet.eval()
    return unet, losses


def assemble(spec: GeneratorSpec, parts: FamilyParts, unet: Any) -> Any:
    """The StableDiffusionPipeline saved for `spec` (no safety checker, as tiny repos)."""
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(
        vae=parts.vae, text_encoder=parts.text_encoder, tokenizer=parts.tokenizer, unet=unet,
        scheduler=inference_scheduler(spec.scheduler, spec.prediction_type, spec.seed),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def random_twin(spec: GeneratorSpec, world_seed: int, image_size: int) -> Any:
    """Same config as a trained generator, nothing trained: the baseline tests compare to."""
    text_encoder, tokenizer = new_text_encoder(world_seed, spec.family)
    parts = FamilyParts(
        new_vae(world_seed, image_size, spec.family), text_encoder, tokenizer, float("nan")
    )
    return assemble(spec, parts, new_unet(spec.seed, image_size))
