"""Diffusion transformers with CLIP / T5-style text encoders: SD3 (no T5), PixArt-alpha,
FLUX.1 (dev and schnell), Chroma, AuraFlow, HunyuanDiT.

One registered builder per architecture, seeded per component and small enough to sample
a 64x64 image in well under a second on CPU. The VAEs declare `sample_size` 64:
Flux-style pipelines hard-code a 1024 px default, so fakeimg samples them at the VAE's
declared size (1024 for the real Flux VAE).
Heavy libraries are imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

from typing import Any

from fakeimg_assets.testbed.zoo.components import (
    seed_component,
    tiny_clip_text,
    tiny_flux_vae,
    tiny_t5,
    tiny_vae,
    zoo_scheduler,
)
from fakeimg_assets.testbed.zoo.models import LATENT_SIZE, ZooModel
from fakeimg_assets.testbed.zoo.registry import register
from fakeimg_assets.testbed.zoo.tokenizers import (
    TEXT_VOCAB_SIZE,
    char_vocab,
    make_clip_tokenizer,
    make_t5_tokenizer,
)


@register("sd3")
def _build_sd3(model: ZooModel, seed: int) -> Any:
    from diffusers import SD3Transformer2DModel, StableDiffusion3Pipeline

    seed_component(seed, "transformer")
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
    vae = tiny_vae(
        seed,
        latent_channels=16,
        use_quant_conv=False,
        use_post_quant_conv=False,
        scaling_factor=1.5305,
        shift_factor=0.0609,
    )
    return StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=zoo_scheduler(model.scheduler, "sd3", seed),
        vae=vae,
        text_encoder=tiny_clip_text(seed, "text_encoder", with_projection=True),
        tokenizer=make_clip_tokenizer(),
        text_encoder_2=tiny_clip_text(seed, "text_encoder_2", with_projection=True),
        tokenizer_2=make_clip_tokenizer(pad_token="!"),
        text_encoder_3=None,
        tokenizer_3=None,
    )


@register("pixart")
def _build_pixart(model: ZooModel, seed: int) -> Any:
    from diffusers import PixArtAlphaPipeline, PixArtTransformer2DModel

    seed_component(seed, "transformer")
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
    return PixArtAlphaPipeline(
        tokenizer=make_t5_tokenizer(),
        text_encoder=tiny_t5(seed),
        vae=tiny_vae(seed, scaling_factor=0.18215),
        transformer=transformer,
        scheduler=zoo_scheduler(model.scheduler, "pixart", seed),
    )


def _flow_scheduler(*, dynamic: bool) -> Any:
    """Flux-dev style (resolution-dependent shift) or schnell style (fixed shift 1)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    if dynamic:
        return FlowMatchEulerDiscreteScheduler(
            num_train_timesteps=1000,
            shift=3.0,
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=1.15,
            base_image_seq_len=256,
            max_image_seq_len=4096,
        )
    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)


@register("flux")
def _build_flux(model: ZooModel, seed: int, *, schnell: bool = False) -> Any:
    """FLUX.1: CLIP (pooled) + T5 text encoders, MMDiT; schnell has no guidance embedding."""
    from diffusers import FluxPipeline, FluxTransformer2DModel

    seed_component(seed, "transformer")
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,  # 16 latent channels packed 2x2
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=32,  # T5 width
        pooled_projection_dim=32,  # CLIP pooled width
        guidance_embeds=not schnell,  # dev is guidance-distilled; schnell is timestep-distilled
        axes_dims_rope=(2, 2, 4),
    )
    return FluxPipeline(
        scheduler=_flow_scheduler(dynamic=not schnell),
        vae=tiny_flux_vae(seed),
        text_encoder=tiny_clip_text(seed, "text_encoder", with_projection=False),
        tokenizer=make_clip_tokenizer(),
        text_encoder_2=tiny_t5(seed, "text_encoder_2"),
        tokenizer_2=make_t5_tokenizer(),
        transformer=transformer,
    )


@register("flux-schnell")
def _build_flux_schnell(model: ZooModel, seed: int) -> Any:
    return _build_flux(model, seed, schnell=True)


@register("chroma")
def _build_chroma(model: ZooModel, seed: int) -> Any:
    """Chroma: Flux without CLIP, modulation from a small approximator network, T5 only."""
    from diffusers import ChromaPipeline, ChromaTransformer2DModel

    seed_component(seed, "transformer")
    transformer = ChromaTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=32,
        axes_dims_rope=(2, 2, 4),
        approximator_num_channels=8,
        approximator_hidden_dim=16,
        approximator_layers=1,
    )
    return ChromaPipeline(
        scheduler=_flow_scheduler(dynamic=True),
        vae=tiny_flux_vae(seed),
        text_encoder=tiny_t5(seed, "text_encoder"),
        tokenizer=make_t5_tokenizer(),
        transformer=transformer,
    )


@register("auraflow")
def _build_auraflow(model: ZooModel, seed: int) -> Any:
    """AuraFlow: MMDiT + single DiT blocks over an SDXL-style VAE, UMT5 text encoder."""
    from diffusers import AuraFlowPipeline, AuraFlowTransformer2DModel
    from transformers import UMT5Config, UMT5EncoderModel

    seed_component(seed, "transformer")
    transformer = AuraFlowTransformer2DModel(
        sample_size=8,
        patch_size=2,
        in_channels=4,
        num_mmdit_layers=1,
        num_single_dit_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=32,  # UMT5 width
        caption_projection_dim=16,
        out_channels=4,
        pos_embed_max_size=64,
    )
    seed_component(seed, "text_encoder")
    umt5 = UMT5EncoderModel(
        UMT5Config(
            vocab_size=TEXT_VOCAB_SIZE, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
            relative_attention_num_buckets=8, feed_forward_proj="gated-gelu", pad_token_id=0,
            eos_token_id=1, decoder_start_token_id=0,
        )
    ).eval()
    return AuraFlowPipeline(
        tokenizer=make_t5_tokenizer(),
        text_encoder=umt5,
        vae=tiny_vae(seed, scaling_factor=0.13025),
        transformer=transformer,
        scheduler=_flow_scheduler(dynamic=False),
    )


@register("hunyuandit")
def _build_hunyuandit(model: ZooModel, seed: int) -> Any:
    """HunyuanDiT: DiT with BERT (CLIP-like) + mT5 text encoders, v-prediction DDPM."""
    from diffusers import DDPMScheduler, HunyuanDiT2DModel, HunyuanDiTPipeline
    from transformers import BertConfig, BertModel, BertTokenizer

    seed_component(seed, "transformer")
    transformer = HunyuanDiT2DModel(
        sample_size=8,
        num_layers=2,
        patch_size=2,
        attention_head_dim=8,
        num_attention_heads=2,
        in_channels=4,
        cross_attention_dim=32,  # BERT width
        cross_attention_dim_t5=32,  # mT5 width
        pooled_projection_dim=16,
        hidden_size=16,
    )
    seed_component(seed, "text_encoder")
    bert = BertModel(
        BertConfig(
            vocab_size=TEXT_VOCAB_SIZE, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=4, intermediate_size=37, max_position_embeddings=128,
        ),
    ).eval()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    bert_tok = BertTokenizer(vocab=char_vocab(specials, space="##"), model_max_length=77)
    return HunyuanDiTPipeline(
        vae=tiny_vae(seed, scaling_factor=0.13025),
        text_encoder=bert,
        tokenizer=bert_tok,
        transformer=transformer,
        scheduler=DDPMScheduler(  # as HunyuanDiT ships it: v-prediction, scaled linear
            num_train_timesteps=1000, beta_start=0.00085, beta_end=0.018,
            beta_schedule="scaled_linear", prediction_type="v_prediction", clip_sample=False,
            steps_offset=1,
        ),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
        text_encoder_2=tiny_t5(seed, "text_encoder_2"),
        tokenizer_2=make_t5_tokenizer(),
    )

