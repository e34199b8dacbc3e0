"""Sampling recipes for transformer (DiT / MMDiT) text-to-image pipelines: SD3, PixArt,
Flux, Chroma and the rest.

Registered when the `recipes` package is imported.
Defaults are the authors' (model cards / diffusers docs of the reference checkpoints).
Flux-style pipelines hard-code a 1024 px default (`default_sample_size = 128` latents), not
one read from their configs, so they sample at the VAE's declared `sample_size` (1024 for
the real Flux VAE, 64 for a tiny zoo repo) through the recipe's `native_size` hook.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fakeimg_assets.sampling.limits import native_resolution
from fakeimg_assets.sampling.recipes.registry import (
    CLIP_TOKENIZERS,
    EPS_SCHEDULERS,
    FLOW_SCHEDULERS,
    T5_TOKENIZERS,
    SamplingRecipe,
    diffusers_classes,
    register_recipe,
    register_variant,
    transformers_classes,
)

register_recipe(
    SamplingRecipe(
        name="sd3",
        architecture="sd3",
        pipeline_classes=("StableDiffusion3Pipeline",),
        default_steps=28,
        default_guidance=7.0,
        components={
            "transformer": diffusers_classes("SD3Transformer2DModel"),
            "vae": diffusers_classes("AutoencoderKL"),
            "text_encoder": transformers_classes("CLIPTextModelWithProjection"),
            "text_encoder_2": transformers_classes("CLIPTextModelWithProjection"),
            "text_encoder_3": transformers_classes("T5EncoderModel"),
            "tokenizer": transformers_classes(*CLIP_TOKENIZERS),
            "tokenizer_2": transformers_classes(*CLIP_TOKENIZERS),
            "tokenizer_3": transformers_classes(*T5_TOKENIZERS),
            "scheduler": diffusers_classes(*FLOW_SCHEDULERS),
        },
        optional_components=("text_encoder_3", "tokenizer_3"),
        description="SD3 MMDiT transformer, flow matching, CLIP (+ optional T5)",
    )
)
register_recipe(
    SamplingRecipe(
        name="pixart",
        architecture="pixart",
        pipeline_classes=("PixArtAlphaPipeline", "PixArtSigmaPipeline"),
        default_steps=20,
        default_guidance=4.5,
        components={
            "transformer": diffusers_classes("PixArtTransformer2DModel", "Transformer2DModel"),
            "vae": diffusers_classes("AutoencoderKL"),
            "text_encoder": transformers_classes("T5EncoderModel"),
            "tokenizer": transformers_classes(*T5_TOKENIZERS),
            "scheduler": diffusers_classes(*EPS_SCHEDULERS),
        },
        call_kwargs={"use_resolution_binning": False, "clean_caption": False},
        description="PixArt DiT transformer with a T5 text encoder",
    )
)

GEMMA_TOKENIZERS = ("GemmaTokenizer", "GemmaTokenizerFast")
QWEN_TOKENIZERS = ("Qwen2Tokenizer", "Qwen2TokenizerFast")


def vae_declared_size(local_dir: Path) -> int | None:
    """The VAE config's `sample_size` (px) in a snapshot, or None (the pipeline's default)."""
    path = Path(local_dir) / "vae" / "config.json"
    if not path.is_file():
        return None
    size = json.loads(path.read_text()).get("sample_size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 8 else None


def config_native_size(local_dir: Path) -> int | None:
    """Transformer `sample_size` x VAE scale factor in a snapshot: for pipelines whose call
    defaults to a constant 1024 px (Sana) although their configs say what they were made for."""

    configs = [Path(local_dir) / d / "config.json" for d in ("transformer", "vae")]
    if not all(c.is_file() for c in configs):
        return None
    return native_resolution(*(json.loads(c.read_text()) for c in configs))


def _tagged(tags: list[str], *words: str) -> bool:
    """Any Hub tag (card tags, `base_model:...` lineage) naming one of `words`."""
    return any(w in t.lower() for t in tags for w in words)


def is_flux_schnell(configs: Mapping[str, Any], tags: list[str]) -> bool:
    """FLUX.1 [schnell] or a derivative: timestep-distilled, so no guidance embedding.

    Evidence, either suffices: the transformer config's `guidance_embeds` is false (dev and
    its fine-tunes embed the guidance scale; schnell has nothing to feed it), or the tags name
    schnell (e.g. `base_model:black-forest-labs/FLUX.1-schnell`).
    """
    transformer = configs.get("transformer") or {}
    return transformer.get("guidance_embeds") is False or _tagged(tags, "schnell")


_FLUX_COMPONENTS = {
    "transformer": diffusers_classes("FluxTransformer2DModel"),
    "vae": diffusers_classes("AutoencoderKL"),
    "text_encoder": transformers_classes("CLIPTextModel"),
    "tokenizer": transformers_classes(*CLIP_TOKENIZERS),
    "text_encoder_2": transformers_classes("T5EncoderModel"),
    "tokenizer_2": transformers_classes(*T5_TOKENIZERS),
    "scheduler": diffusers_classes(*FLOW_SCHEDULERS),
}

FLUX = register_recipe(
    SamplingRecipe(
        name="flux",
        architecture="flux",
        pipeline_classes=("FluxPipeline",),
        default_steps=50,  # FLUX.1 [dev] card: 50 steps, guidance 3.5, 1024 px, 512 T5 tokens
        default_guidance=3.5,  # embedded guidance (dev is guidance-distilled), not CFG
        components=_FLUX_COMPONENTS,
        call_kwargs={"max_sequence_length": 512},
        default_size=1024,
        native_size=vae_declared_size,
        description="FLUX.1 MMDiT, flow matching, CLIP (pooled) + T5, guidance embedded",
    )
)
FLUX_SCHNELL = register_variant(
    "flux",
    SamplingRecipe(
        name="flux-schnell",
        architecture="flux",
        pipeline_classes=(),  # chosen per repo by `is_flux_schnell`, never by class alone
        default_steps=4,  # FLUX.1 [schnell] card: 4 steps, guidance 0, 256 T5 tokens
        default_guidance=0.0,
        components=_FLUX_COMPONENTS,
        call_kwargs={"max_sequence_length": 256},
        default_size=1024,
        native_size=vae_declared_size,
        distilled=True,
        description="FLUX.1 [schnell] (timestep-distilled, few-step): no guidance embedding",
    ),
    is_flux_schnell,
)
CHROMA = register_recipe(
    SamplingRecipe(
        name="chroma",
        architecture="chroma",
        pipeline_classes=("ChromaPipeline",),
        default_steps=40,  # Chroma1-HD card: 40 steps, CFG 3.0, 1024 px
        default_guidance=3.0,
        components={
            "transformer": diffusers_classes("ChromaTransformer2DModel"),
            "vae": diffusers_classes("AutoencoderKL"),
            "text_encoder": transformers_classes("T5EncoderModel"),
            "tokenizer": transformers_classes(*T5_TOKENIZERS),
            "scheduler": diffusers_classes(*FLOW_SCHEDULERS),
        },
        call_kwargs={"max_sequence_length": 512},
        default_size=1024,
        native_size=vae_declared_size,
        description="Chroma: Flux-derived MMDiT without CLIP, T5 only, real CFG",
    )
)
SANA = register_recipe(
    SamplingRecipe(
        name="sana",
        architecture="sana",
        pipeline_classes=("SanaPipeline",),
        default_steps=20,  # Sana 1600M 1024px card: 20 steps, CFG 4.5, 1024 px
        default_guidance=4.5,
        components={
            "transformer": diffusers_classes("SanaTransformer2DModel"),
            "vae": diffusers_classes("AutoencoderDC"),
            "text_encoder": transformers_classes("Gemma2Model"),
            "tokenizer": transformers_classes(*GEMMA_TOKENIZERS),
            "scheduler": diffusers_classes(*EPS_SCHEDULERS, *FLOW_SCHEDULERS),  # DPM-Solver with flow sigmas
        },
        # square sizes are their own aspect-ratio bin; binning would resize a tiny repo's
        # output from a 1024 px table. The default complex human instruction is kept.
        call_kwargs={"use_resolution_binning": False, "clean_caption": False},
        # on a CPU its Gemma 2 encoder, attending over the instruction and prompt (some 300
        # tokens each), runs slower batched than one prompt a call: 8 images of the zoo's
        # repo, 10 steps, 2 cores: 0.656 s at batch 4, 0.577 s at batch 1, and the sampler
        # measured 0.95 [0.86, 0.98] of the `pipe(prompt)` loop at batch 4
        cpu_max_batch=1,
        default_size=1024,
        native_size=config_native_size,
        description="Sana linear-attention DiT, 32x DC-AE, Gemma 2 text encoder",
    )
)
LUMINA2 = register_recipe(
    SamplingRecipe(
        name="lumina2",
        architecture="lumina2",
        pipeline_classes=("Lumina2Pipeline",),
        default_steps=50,  # Lumina-Image-2.0 card: 50 steps, CFG 4.0, CFG truncation 0.25
        default_guidance=4.0,
        components={
            "transformer": diffusers_classes("Lumina2Transformer2DModel"),
            "vae": diffusers_classes("AutoencoderKL"),
            "text_encoder": transformers_classes("Gemma2Model"),
            "tokenizer": transformers_classes(*GEMMA_TOKENIZERS),
            "scheduler": diffusers_classes(*FLOW_SCHEDULERS),
        },
        call_kwargs={"cfg_trunc_ratio": 0.25, "cfg_normalization": True},
        default_size=1024,  # transformer sample_size 128 x the pipeline's fixed VAE scale 8
        description="Lumina-Image 2.0 unified next-DiT, Flux VAE, Gemma 2 with a system prompt",
    )
)
AURAFLOW = register_recipe(
    SamplingRecipe(
        name="auraflow",
        architecture="auraflow",
        pipeline_classes=("AuraFlowPipeline",),
        default_steps=50,  # AuraFlow v0.3 card: 50 steps, CFG 3.5, 1024 px
        default_guidance=3.5,
        components={
            "transformer": diffusers_classes("AuraFlowTransformer2DModel"),
            "vae": diffusers_classes("AutoencoderKL"),
            "text_encoder": transformers_classes("UMT5EncoderModel"),
            "tokenizer": transformers_classes("LlamaTokenizer", "LlamaTokenizerFast", *T5_TOKENIZERS),
            "scheduler": diffusers_classes(*FLOW_SCHEDULERS),
        },
        default_size=1024,
        native_size=vae_declared_size,  # the call defaults to 1024; its SDXL VAE says 1024 too
        description="AuraFlow MMDiT + DiT, flow matching, UMT5 text encoder",
    )
)
HUNYUANDIT = register_recipe(
    SamplingRecipe(
        name="hunyuandit",
        architecture="hunyuandit",
        pipeline_classes=("HunyuanDiTPipeline",),
        default_steps=50,  # HunyuanDiT-Diffusers: 50 steps, CFG 5.0, 1024 px
        default_guidance=5.0,
        components={
            "transformer": diffusers_classes("HunyuanDiT2DModel"),
            "vae": diffusers_classes("AutoencoderKL"),
            "text_encoder": transformers_classes("BertModel"),
            "tokenizer": transformers_classes("BertTokenizer", "BertTokenizerFast"),
            "text_encoder_2": transformers_classes("T5EncoderModel", "MT5EncoderModel"),
            "tokenizer_2": transformers_classes(*T5_TOKENIZERS, "MT5Tokenizer", "MT5TokenizerFast"),
            "scheduler": diffusers_classes(*EPS_SCHEDULERS),
        },
        # 1024x1024 is one of its supported shapes, so binning would only resize tiny repos
        call_kwargs={"use_resolution_binning": False},
        load_kwargs={"requires_safety_checker": False},
        default_size=1024,  # transformer sample_size 128 x VAE scale 8 (from its configs)
        description="HunyuanDiT: DiT with bilingual BERT + mT5 text encoders",
    )
)
_ZIMAGE_COMPONENTS = {
    "transformer": diffusers_classes("ZImageTransformer2DModel"),
    "vae": diffusers_classes("AutoencoderKL"),
    "text_encoder": transformers_classes("Qwen3Model", "Qwen3ForCausalLM"),
    "tokenizer": transformers_classes(*QWEN_TOKENIZERS),
    "scheduler": diffusers_classes(*FLOW_SCHEDULERS),
}
ZIMAGE = register_recipe(
    SamplingRecipe(
        name="zimage",
        architecture="zimage",
        pipeline_classes=("ZImagePipeline",),
        default_steps=50,  # Z-Image (base) card: 50 steps, CFG 4.0, 1024 px
        default_guidance=4.0,
        components=_ZIMAGE_COMPONENTS,
        default_size=1024,
        native_size=vae_declared_size,  # the call defaults to a constant 1024
        description="Z-Image single-stream DiT, Flux VAE, Qwen 3 text encoder (chat template)",
    )
)
ZIMAGE_TURBO = register_variant(
    "zimage",
    SamplingRecipe(
        name="zimage-turbo",
        architecture="zimage",
        pipeline_classes=(),
        default_steps=9,  # Z-Image-Turbo card: 9 steps (8 DiT forwards), guidance 0
        default_guidance=0.0,
        components=_ZIMAGE_COMPONENTS,
        default_size=1024,
        native_size=vae_declared_size,
        distilled=True,
        description="Z-Image-Turbo (few-step distilled): no CFG",
    ),
    lambda configs, tags: _tagged(tags, "turbo"),  # base_model:Tongyi-MAI/Z-Image-Turbo
)

# FLUX.2 [klein], Qwen-Image: transformer_qwen.py (it imports this module)
