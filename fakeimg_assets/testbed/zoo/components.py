"""The zoo's tiny shared components: per-component seeding, VAEs, text encoders, schedulers.

Every family (`arch_*.py`) and the world's trained generators build their pipelines from
these, so the same seed always gives the same weights. Sizes come from diffusers' own test
configs, shrunk until a pipeline samples a 64x64 image in about a second on CPU.
Heavy libraries are imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fakeimg_assets.testbed.zoo.models import DEFAULT_IMAGE_SIZE
from fakeimg_assets.testbed.zoo.tokenizers import CLIP_MAX_LENGTH, TEXT_VOCAB_SIZE, clip_special_ids

# Denoisers whose pipelines default to a constant size (Kandinsky 3, the cascades) declare
# their native latent size under this key in their saved config (registered after
# construction; diffusers ignores it when loading): the recipes read it, so a tiny repo is
# sampled at its own small size, not at 1024 px.
NATIVE_SIZE_KEY = "sample_size"


def seed_component(base: int, component: str) -> None:
    """Seed torch per component, so one component's size never shifts another's weights."""
    import torch

    offset = int.from_bytes(hashlib.sha256(component.encode()).digest()[:2], "big")
    torch.manual_seed(base * 65_536 + offset)


def zoo_scheduler(name: str, arch: str, seed: int) -> Any:
    """The named scheduler with the configs real repos of that family ship."""
    import diffusers

    if name == "FlowMatchEulerDiscreteScheduler":
        shift = (3.0, 1.0, 2.0)[seed % 3]
        return diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    cls = getattr(diffusers, name)
    if arch == "pixart":
        kwargs: dict[str, Any] = dict(
            beta_start=0.0001, beta_end=0.02, beta_schedule="linear", num_train_timesteps=1000
        )
    else:
        kwargs = dict(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            num_train_timesteps=1000,
        )
    if name in ("DDIMScheduler", "PNDMScheduler", "EulerDiscreteScheduler",
                "DPMSolverMultistepScheduler"):  # as real SD repos ship them (no warning)
        kwargs["steps_offset"] = 1
    if name == "DDIMScheduler":
        kwargs.update(clip_sample=False, set_alpha_to_one=False)
    if name == "PNDMScheduler":
        kwargs.update(skip_prk_steps=True, set_alpha_to_one=False)
    if name == "EulerDiscreteScheduler":
        kwargs.update(timestep_spacing="leading", interpolation_type="linear")
    if name == "DPMSolverMultistepScheduler":
        kwargs.update(algorithm_type="dpmsolver++", solver_order=2)
    return cls(**kwargs)


def tiny_vae(seed: int, *, latent_channels: int = 4, **extra: Any) -> Any:
    """A 4-level AutoencoderKL: vae_scale_factor 8, so 8x8 latents decode to 64x64."""
    from diffusers import AutoencoderKL

    seed_component(seed, "vae")
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(4, 4, 8, 8),
        layers_per_block=1,
        norm_num_groups=2,
        latent_channels=latent_channels,
        sample_size=DEFAULT_IMAGE_SIZE,
        **extra,
    )


def tiny_flux_vae(seed: int) -> Any:
    """16 latent channels, no quant convs, Flux's scaling/shift; 8x8 latents -> 64 px."""
    return tiny_vae(
        seed,
        latent_channels=16,
        use_quant_conv=False,
        use_post_quant_conv=False,
        scaling_factor=0.3611,
        shift_factor=0.1159,
    )


def tiny_clip_config(with_projection: bool) -> Any:
    """The CLIP text config of every zoo CLIP encoder (hidden 32, 2 layers)."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=TEXT_VOCAB_SIZE,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=CLIP_MAX_LENGTH,
        hidden_act="gelu",
        projection_dim=32 if with_projection else 512,
        layer_norm_eps=1e-5,
        **clip_special_ids(),
    )


def tiny_clip_text(seed: int, component: str, *, with_projection: bool) -> Any:
    """A seeded CLIP text encoder (with projection: SDXL's second, SD3's, the priors')."""
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    seed_component(seed, component)
    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    return cls(tiny_clip_config(with_projection)).eval()


def tiny_t5(seed: int, component: str = "text_encoder", d_model: int = 32) -> Any:
    """A seeded 2-layer T5 encoder over the zoo's 1000-token vocabulary."""
    from transformers import T5Config, T5EncoderModel

    seed_component(seed, component)
    return T5EncoderModel(
        T5Config(
            vocab_size=TEXT_VOCAB_SIZE,
            d_model=d_model,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            feed_forward_proj="gated-gelu",
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    ).eval()
