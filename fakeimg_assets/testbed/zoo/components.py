"""Tiny random-weight pipelines, one builder per architecture, before any deliberate damage.

Separate from the file writers so the weights (seeded per component, hence deterministic)
can be built in memory on their own, e.g. by `verify` or a test, without writing a repo.
Heavy libraries are imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fakeimg_assets.testbed.zoo import arch_transformer, arch_unet
from fakeimg_assets.testbed.zoo.catalog import (
    _BLACK_VAE,
    _BROKEN,
    DEFAULT_IMAGE_SIZE,
    LATENT_SIZE,
    ZooModel,
)


def _seed(base: int, component: str) -> None:
    """Seed torch per component, so one component's size never shifts another's weights."""
    import torch

    offset = int.from_bytes(hashlib.sha256(component.encode()).digest()[:2], "big")
    torch.manual_seed(base * 65_536 + offset)


def _scheduler(name: str, arch: str, seed: int) -> Any:
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


def _vae(seed: int, *, latent_channels: int = 4, **extra: Any) -> Any:
    """A 4-level AutoencoderKL: vae_scale_factor 8, so 8x8 latents decode to 64x64."""
    from diffusers import AutoencoderKL

    _seed(seed, "vae")
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


def _clip_config(with_projection: bool) -> Any:
    from transformers import CLIPTextConfig

    from fakeimg_assets.testbed.zoo.tokenizers import (
        CLIP_MAX_LENGTH,
        TEXT_VOCAB_SIZE,
        clip_special_ids,
    )

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


def _clip_text(seed: int, component: str, *, with_projection: bool) -> Any:
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    _seed(seed, component)
    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    return cls(_clip_config(with_projection)).eval()


def _build_sd1(model: ZooModel, seed: int) -> Any:
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    from fakeimg_assets.testbed.zoo.tokenizers import make_clip_tokenizer

    _seed(seed, "unet")
    unet = UNet2DConditionModel(
        sample_size=model.latent_size,
        in_channels=4,
        out_channels=4,
        block_out_channels=(4, 8),
        layers_per_block=1,
        norm_num_groups=2,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=2,
    )
    return StableDiffusionPipeline(
        vae=_vae(seed, scaling_factor=0.18215),
        text_encoder=_clip_text(seed, "text_encoder", with_projection=False),
        tokenizer=make_clip_tokenizer(),
        unet=unet,
        scheduler=_scheduler(model.scheduler, "sd1", seed),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _build_sdxl(model: ZooModel, seed: int) -> Any:
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel

    from fakeimg_assets.testbed.zoo.tokenizers import make_clip_tokenizer

    _seed(seed, "unet")
    unet = UNet2DConditionModel(
        sample_size=model.latent_size,
        in_channels=4,
        out_channels=4,
        block_out_channels=(4, 8),
        layers_per_block=1,
        norm_num_groups=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=64,  # hidden sizes of both text encoders, concatenated
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=80,  # 6 * 8 time ids + 32 pooled text
    )
    return StableDiffusionXLPipeline(
        vae=_vae(seed, scaling_factor=0.13025, force_upcast=True),
        text_encoder=_clip_text(seed, "text_encoder", with_projection=False),
        text_encoder_2=_clip_text(seed, "text_encoder_2", with_projection=True),
        tokenizer=make_clip_tokenizer(),
        tokenizer_2=make_clip_tokenizer(pad_token="!"),
        unet=unet,
        scheduler=_scheduler(model.scheduler, "sdxl", seed),
        force_zeros_for_empty_prompt=True,
    )


def _build_sd3(model: ZooModel, seed: int) -> Any:
    from diffusers import SD3Transformer2DModel, StableDiffusion3Pipeline

    from fakeimg_assets.testbed.zoo.tokenizers import make_clip_tokenizer

    _seed(seed, "transformer")
    transformer = SD3Transformer2DModel(
        sample_size=LATENT_SIZE,
        patch_size=1,
        in_channels=16,
        out_channels=16,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        joint_attention_dim=64,  # both CLIP hidden states concatenated, as T5's width would be
        caption_projection_dim=32,
        pooled_projection_dim=64,
        pos_embed_max_size=32,  # up to 256x256 images
    )
    vae = _vae(
        seed,
        latent_channels=16,
        use_quant_conv=False,
        use_post_quant_conv=False,
        scaling_factor=1.5305,
        shift_factor=0.0609,
    )
    return StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=_scheduler(model.scheduler, "sd3", seed),
        vae=vae,
        text_encoder=_clip_text(seed, "text_encoder", with_projection=True),
        tokenizer=make_clip_tokenizer(),
        text_encoder_2=_clip_text(seed, "text_encoder_2", with_projection=True),
        tokenizer_2=make_clip_tokenizer(pad_token="!"),
        text_encoder_3=None,
        tokenizer_3=None,
    )


def _build_pixart(model: ZooModel, seed: int) -> Any:
    from diffusers import PixArtAlphaPipeline, PixArtTransformer2DModel
    from transformers import T5Config, T5EncoderModel

    from fakeimg_assets.testbed.zoo.tokenizers import TEXT_VOCAB_SIZE, make_t5_tokenizer

    _seed(seed, "transformer")
    transformer = PixArtTransformer2DModel(
        sample_size=LATENT_SIZE,
        num_layers=2,
        patch_size=2,
        attention_head_dim=8,
        num_attention_heads=3,
        caption_channels=32,
        in_channels=4,
        cross_attention_dim=24,
        out_channels=8,  # learned sigma: noise and variance
        attention_bias=True,
        activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000,
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
    )
    _seed(seed, "text_encoder")
    t5 = T5EncoderModel(
        T5Config(
            vocab_size=TEXT_VOCAB_SIZE,
            d_model=32,
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
    return PixArtAlphaPipeline(
        tokenizer=make_t5_tokenizer(),
        text_encoder=t5,
        vae=_vae(seed, scaling_factor=0.18215),
        transformer=transformer,
        scheduler=_scheduler(model.scheduler, "pixart", seed),
    )


_BUILDERS = {"sd1": _build_sd1, "sdxl": _build_sdxl, "sd3": _build_sd3, "pixart": _build_pixart}
_BUILDERS.update(arch_transformer.BUILDERS)  # Flux, Chroma, ... (zoo/arch_transformer.py)
_BUILDERS.update(arch_unet.builders())  # Kandinsky, cascades, IF, aMUSEd (zoo/arch_unet.py)


def build_pipeline(model: ZooModel) -> Any:
    """The in-memory random-weight pipeline behind `model` (before any deliberate damage)."""
    kind, arch = _BROKEN.get(model.model_id, ("", model.architecture))
    pipe = _BUILDERS[arch](model, model.seed)
    if kind == _BLACK_VAE:
        _blacken_vae(pipe.vae)
    return pipe


def _blacken_vae(vae: Any) -> None:
    """Decoder output pinned to -10 before clamping: every image is pure black."""
    import torch

    with torch.no_grad():
        vae.decoder.conv_out.weight.zero_()
        vae.decoder.conv_out.bias.fill_(-10.0)
