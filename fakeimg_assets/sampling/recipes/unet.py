"""Sampling recipes for UNet latent diffusion (SD1/SD2, SDXL), cascade and pixel-space
text-to-image pipelines.

Registered when the `recipes` package is imported. Defaults: the authors' (cards, else diffusers').
Kandinsky 3 and the cascades (Stable Cascade, Wuerstchen) default to a constant 1024 px,
not to a size read from their configs; a repo whose denoiser config declares its latent
`sample_size` (the tiny zoo's do) is sampled at that size instead (`native_size` hook).
Combined cascades are one repo holding prior and decoder components (`prior_*` names),
as `save_pretrained` of the combined class writes it; the decoder stage runs with the
recipe's fixed settings and the requested steps/guidance go to the text-conditioned prior.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

from fakeimg_assets.lib.errors import ResourceLimitError
from fakeimg_assets.sampling.recipes.registry import (
    CLIP_TOKENIZERS,
    EPS_SCHEDULERS,
    T5_TOKENIZERS,
    SamplingRecipe,
    diffusers_classes,
    register_recipe,
    transformers_classes,
)
from fakeimg_assets.sampling.recipes.unet_loader import load_by_parts

register_recipe(
    SamplingRecipe(
        name="sd1",
        architecture="sd1",
        pipeline_classes=("StableDiffusionPipeline",),
        default_steps=25,
        default_guidance=7.5,
        components={
            "unet": diffusers_classes("UNet2DConditionModel"),
            "vae": diffusers_classes("AutoencoderKL"),
            "text_encoder": transformers_classes("CLIPTextModel"),
            "tokenizer": transformers_classes(*CLIP_TOKENIZERS),
            "scheduler": diffusers_classes(*EPS_SCHEDULERS),
        },
        load_kwargs={"requires_safety_checker": False},
        description="Stable Diffusion 1.x/2.x UNet latent diffusion, CLIP text encoder",
    )
)
register_recipe(
    SamplingRecipe(
        name="sdxl",
        architecture="sdxl",
        pipeline_classes=("StableDiffusionXLPipeline",),
        default_steps=25,
        default_guidance=5.0,
        components={
            "unet": diffusers_classes("UNet2DConditionModel"),
            "vae": diffusers_classes("AutoencoderKL"),
            "text_encoder": transformers_classes("CLIPTextModel"),
            "text_encoder_2": transformers_classes("CLIPTextModelWithProjection"),
            "tokenizer": transformers_classes(*CLIP_TOKENIZERS),
            "tokenizer_2": transformers_classes(*CLIP_TOKENIZERS),
            "scheduler": diffusers_classes(*EPS_SCHEDULERS),
        },
        description="SDXL UNet with two CLIP text encoders",
    )
)

# the default resolution cap (`SamplingLimits.max_resolution_px`): a declared size above it
# is refused, never sampled (remote's plan-time check reads `vae` configs these repos lack)
MAX_NATIVE_PX = 2048


def _capped(px: int, where: str) -> int:
    if px > MAX_NATIVE_PX:
        raise ResourceLimitError(
            f"native resolution {px}x{px} px ({where}) is above the resolution cap of "
            f"{MAX_NATIVE_PX} px; refused"
        )
    return px


def declared_latent_size(local_dir: Path, component: str) -> int | None:
    """A denoiser config's `sample_size` (latent cells) in a snapshot, or None."""
    path = Path(local_dir) / component / "config.json"
    if not path.is_file():
        return None
    size = json.loads(path.read_text()).get("sample_size")
    ok = isinstance(size, int) and not isinstance(size, bool) and 1 <= size <= 512
    return size if ok else None


def _size_from(component: str, px_per_cell: float, default: int) -> Callable[[Path], int]:
    """`native_size` hook: declared latent size x pixels per latent cell, else `default`."""

    def native_size(local_dir: Path) -> int:
        cells = declared_latent_size(local_dir, component)
        if cells is None:
            return default
        px = int(math.floor(cells * px_per_cell / 8 + 0.5)) * 8  # the pipelines need /8
        return _capped(px, f"{component} sample_size {cells}")

    return native_size


def _vq_size(denoiser: str, vq: str, default: int) -> Callable[[Path], int]:
    """Denoiser `sample_size` x the VQ model's scale (2 ** (levels - 1)), as the pipelines."""

    def native_size(local_dir: Path) -> int:
        cells = declared_latent_size(local_dir, denoiser)
        vq_config = Path(local_dir) / vq / "config.json"
        if cells is None or not vq_config.is_file():
            return default
        blocks = json.loads(vq_config.read_text()).get("block_out_channels") or [0]
        return _capped(cells * 2 ** (len(blocks) - 1), f"{denoiser} sample_size {cells} x {vq}")

    return native_size


register_recipe(
    SamplingRecipe(
        name="kandinsky3",
        architecture="kandinsky3",
        pipeline_classes=("Kandinsky3Pipeline",),
        default_steps=25,
        default_guidance=3.0,
        components={
            "unet": diffusers_classes("Kandinsky3UNet"),
            "movq": diffusers_classes("VQModel"),
            "text_encoder": transformers_classes("T5EncoderModel"),
            "tokenizer": transformers_classes(*T5_TOKENIZERS),
            "scheduler": diffusers_classes(*EPS_SCHEDULERS),
        },
        default_size=1024,
        native_size=_size_from("unet", 8, 1024),
        description="Kandinsky 3: UNet latent diffusion, FLAN-UL2-style T5 encoder, MoVQ "
        "decoder; 1024 px unless the UNet config declares its latent sample_size",
    )
)
register_recipe(
    SamplingRecipe(
        name="kandinsky22",
        architecture="kandinsky22",
        pipeline_classes=("KandinskyV22CombinedPipeline",),
        default_steps=100,
        default_guidance=4.0,
        components={
            "unet": diffusers_classes("UNet2DConditionModel"),
            "scheduler": diffusers_classes(*EPS_SCHEDULERS),
            "movq": diffusers_classes("VQModel"),
            "prior_prior": diffusers_classes("PriorTransformer"),
            "prior_image_encoder": transformers_classes("CLIPVisionModelWithProjection"),
            "prior_text_encoder": transformers_classes("CLIPTextModelWithProjection"),
            "prior_tokenizer": transformers_classes(*CLIP_TOKENIZERS),
            "prior_scheduler": diffusers_classes("UnCLIPScheduler"),
            "prior_image_processor": transformers_classes("CLIPImageProcessor"),
        },
        # the prior's own defaults (its image encoder embeds the empty negative image)
        call_kwargs={"prior_num_inference_steps": 25, "prior_guidance_scale": 4.0},
        default_size=512,
        native_size=_vq_size("unet", "movq", 512),
        description="Kandinsky 2.2 combined: CLIP-image prior + UNet decoder + MoVQ, one repo; "
        "steps/guidance are the decoder's, the prior runs 25 steps at guidance 4",
    )
)
_CASCADE_PARTS = {
    "tokenizer": transformers_classes(*CLIP_TOKENIZERS),
    "prior_tokenizer": transformers_classes(*CLIP_TOKENIZERS),
    "scheduler": diffusers_classes("DDPMWuerstchenScheduler"),
    "prior_scheduler": diffusers_classes("DDPMWuerstchenScheduler"),
    "vqgan": diffusers_classes("PaellaVQModel"),
}
_PRIOR_ARGS = {
    "num_inference_steps": "prior_num_inference_steps",
    "guidance_scale": "prior_guidance_scale",
}
register_recipe(
    SamplingRecipe(
        name="stable_cascade",
        architecture="stable_cascade",
        pipeline_classes=("StableCascadeCombinedPipeline",),
        default_steps=20,
        default_guidance=4.0,
        skip_components=("prior_feature_extractor", "prior_image_encoder"),  # image prompts
        components={
            **_CASCADE_PARTS,
            "decoder": diffusers_classes("StableCascadeUNet"),
            "prior_prior": diffusers_classes("StableCascadeUNet"),
            "text_encoder": transformers_classes("CLIPTextModelWithProjection"),
            "prior_text_encoder": transformers_classes("CLIPTextModelWithProjection"),
        },
        load=load_by_parts("StableCascadeCombinedPipeline"),
        call_kwargs={"num_inference_steps": 10, "decoder_guidance_scale": 0.0},
        call_names=_PRIOR_ARGS,
        default_size=1024,
        native_size=_size_from("prior_prior", 1024 / 24, 1024),
        description="Stable Cascade combined (Wuerstchen v3): stage C prior 20 steps at "
        "guidance 4 (the requested steps/guidance), stage B decoder 10 steps at 0, Paella "
        "stage A; loaded component by component (diffusers 0.42 cannot from_pretrained it)",
    )
)
register_recipe(
    SamplingRecipe(
        name="wuerstchen",
        architecture="wuerstchen",
        pipeline_classes=("WuerstchenCombinedPipeline",),
        default_steps=60,
        default_guidance=4.0,
        components={
            **_CASCADE_PARTS,
            "decoder": diffusers_classes("WuerstchenDiffNeXt"),
            "prior_prior": diffusers_classes("WuerstchenPrior"),
            "text_encoder": transformers_classes("CLIPTextModel"),
            "prior_text_encoder": transformers_classes("CLIPTextModel"),
        },
        load=load_by_parts("WuerstchenCombinedPipeline"),
        # diffusers 0.42's decoder repeats the text states once per prompt of the batch
        # (encode_prompt gets the batch size as num_images_per_prompt): one prompt per call
        max_batch=1,
        call_kwargs={"num_inference_steps": 12, "decoder_guidance_scale": 0.0},
        call_names=_PRIOR_ARGS,
        default_size=1024,
        native_size=_size_from("prior_prior", 1024 / 24, 1024),
        description="Wuerstchen v2 combined: prior 60 steps at guidance 4 (requested steps/"
        "guidance), DiffNeXt decoder 12 steps at 0, Paella VQGAN; loaded by parts",
    )
)
register_recipe(
    SamplingRecipe(
        name="deepfloyd_if",
        architecture="deepfloyd_if",
        pipeline_classes=("IFPipeline",),
        default_steps=100,
        default_guidance=7.0,
        # the watermarker stamps a logo in the corner after sampling: not the generator's
        # output, and a corner stamp is exactly the shortcut a detector must not learn
        skip_components=("safety_checker", "feature_extractor", "watermarker"),
        components={
            "unet": diffusers_classes("UNet2DConditionModel"),
            "text_encoder": transformers_classes("T5EncoderModel"),
            "tokenizer": transformers_classes(*T5_TOKENIZERS),
            "scheduler": diffusers_classes("DDPMScheduler"),
        },
        load_kwargs={"requires_safety_checker": False},
        call_kwargs={"clean_caption": False},
        native_size=_size_from("unet", 1, 64),  # pixel space: sample_size is the image side
        description="DeepFloyd IF stage I only: pixel-space UNet at its native 64 px, T5; "
        "stages II/III are other repos (IFSuperResolutionPipeline), not chained: the images "
        "are what this repo generates, at its size",
    )
)
register_recipe(
    SamplingRecipe(
        name="amused",
        architecture="amused",
        pipeline_classes=("AmusedPipeline",),
        default_steps=12,
        default_guidance=10.0,
        components={
            "transformer": diffusers_classes("UVit2DModel"),
            "vqvae": diffusers_classes("VQModel"),
            "text_encoder": transformers_classes("CLIPTextModelWithProjection"),
            "tokenizer": transformers_classes(*CLIP_TOKENIZERS),
            "scheduler": diffusers_classes("AmusedScheduler"),
        },
        # its scheduler draws tokens with one torch.Generator (a list fails): one image per call
        max_batch=1,
        native_size=_vq_size("transformer", "vqvae", 512),
        description="aMUSEd: masked image modelling (MUSE) over VQ-GAN tokens, 12 unmasking "
        "steps; size from the transformer's sample_size x VQ scale",
    )
)
register_recipe(
    SamplingRecipe(
        name="kolors",
        architecture="kolors",
        pipeline_classes=("KolorsPipeline",),
        default_steps=50,
        default_guidance=5.0,
        components={
            "unet": diffusers_classes("UNet2DConditionModel"),
            "vae": diffusers_classes("AutoencoderKL"),
            "text_encoder": ("kolors", ("ChatGLMModel",)),  # diffusers.pipelines.kolors
            "tokenizer": ("kolors", ("ChatGLMTokenizer",)),
            "scheduler": diffusers_classes(*EPS_SCHEDULERS),
        },
        description="Kolors: SDXL-style UNet with a ChatGLM3 text encoder (needs sentencepiece)",
    )
)
