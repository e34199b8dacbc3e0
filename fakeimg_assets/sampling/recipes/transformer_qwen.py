"""Sampling recipes for transformer pipelines with Qwen text encoders: FLUX.2 [klein], ...

Registered when the `recipes` package is imported (after `transformer`, whose helpers it uses). Defaults are the authors'.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fakeimg_assets.sampling.recipes.registry import (
    FLOW_SCHEDULERS,
    SamplingRecipe,
    diffusers_classes,
    register_recipe,
    register_unsupported,
    register_variant,
    transformers_classes,
)
from fakeimg_assets.sampling.recipes.transformer import QWEN_TOKENIZERS, vae_declared_size


def is_klein_distilled(configs: Mapping[str, Any], tags: list[str]) -> bool:
    """FLUX.2 [klein] step-distilled (klein-4B/9B) rather than klein-base: the pipeline's own
    `is_distilled` flag in model_index.json, which also switches its CFG off."""
    return (configs.get("model_index") or {}).get("is_distilled") is True


_KLEIN_COMPONENTS = {
    "transformer": diffusers_classes("Flux2Transformer2DModel"),
    "vae": diffusers_classes("AutoencoderKLFlux2"),
    "text_encoder": transformers_classes("Qwen3ForCausalLM", "Qwen3Model"),
    "tokenizer": transformers_classes(*QWEN_TOKENIZERS),
    "scheduler": diffusers_classes(*FLOW_SCHEDULERS),
}
FLUX2_KLEIN = register_recipe(
    SamplingRecipe(
        name="flux2-klein",
        architecture="flux2-klein",
        pipeline_classes=("Flux2KleinPipeline",),
        default_steps=50,  # FLUX.2 [klein] base card: 50 steps, CFG 4.0, 1024 px
        default_guidance=4.0,
        components=_KLEIN_COMPONENTS,
        default_size=1024,
        native_size=vae_declared_size,  # a constant 1024 in the pipeline; its VAE says so too
        description="FLUX.2 [klein] MMDiT, Flux 2 VAE, Qwen 3 (3 stacked layers), real CFG",
    )
)
FLUX2_KLEIN_DISTILLED = register_variant(
    "flux2-klein",
    SamplingRecipe(
        name="flux2-klein-distilled",
        architecture="flux2-klein",
        pipeline_classes=(),
        default_steps=4,  # FLUX.2 [klein] 4B card: 4 steps, guidance 1.0 (ignored: distilled)
        default_guidance=1.0,
        components=_KLEIN_COMPONENTS,
        default_size=1024,
        native_size=vae_declared_size,
        distilled=True,
        description="FLUX.2 [klein] step-distilled (is_distilled): 4 steps, no CFG",
    ),
    is_klein_distilled,
)
QWENIMAGE = register_recipe(
    SamplingRecipe(
        name="qwenimage",
        architecture="qwenimage",
        pipeline_classes=("QwenImagePipeline",),
        default_steps=50,  # Qwen-Image card: 50 steps, true CFG 4.0 against the negative " "
        default_guidance=4.0,
        components={
            "transformer": diffusers_classes("QwenImageTransformer2DModel"),
            "vae": diffusers_classes("AutoencoderKLQwenImage"),
            "text_encoder": transformers_classes("Qwen2_5_VLForConditionalGeneration"),
            "tokenizer": transformers_classes(*QWEN_TOKENIZERS),
            "scheduler": diffusers_classes(*FLOW_SCHEDULERS),
        },
        call_names={"guidance_scale": "true_cfg_scale"},  # its guidance_scale is for distilled
        call_kwargs={"negative_prompt": " "},
        default_size=1024,  # a constant in the pipeline (128 latents x VAE scale 8)
        native_size=vae_declared_size,  # None for the real VAE: the pipeline's 1024 px
        description="Qwen-Image MMDiT, Wan-style VAE, Qwen2.5-VL text encoder, true CFG",
    )
)
register_unsupported(
    "HiDreamImagePipeline",
    "its fourth text encoder, Llama-3.1-8B-Instruct (text_encoder_4/tokenizer_4), is not in "
    "the HiDream-ai repos: the card loads it from the separate, gated meta-llama repo and "
    "passes it to from_pretrained (one model, two repos); fakeimg samples one pinned repo",
)
FLUX2 = register_recipe(
    SamplingRecipe(
        name="flux2",
        architecture="flux2",
        pipeline_classes=("Flux2Pipeline",),
        default_steps=50,  # FLUX.2 [dev] card: 50 steps, guidance 4 (embedded), 1024 px
        default_guidance=4.0,
        components={
            "transformer": diffusers_classes("Flux2Transformer2DModel"),
            "vae": diffusers_classes("AutoencoderKLFlux2"),
            "text_encoder": transformers_classes("Mistral3ForConditionalGeneration"),
            "tokenizer": transformers_classes("PixtralProcessor"),  # a processor: tokenizer + chat template
            "scheduler": diffusers_classes(*FLOW_SCHEDULERS),
        },
        default_size=1024,
        native_size=vae_declared_size,  # a constant 1024 in the pipeline; its VAE says so too
        description="FLUX.2 [dev] MMDiT, Flux 2 VAE, Mistral Small 3.1 (3 stacked layers)",
    )
)
