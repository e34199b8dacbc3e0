"""Family groups in the Community Forensics sense: how a generator makes its pixels.

Every generator carries one of `FAMILY_GROUPS`: from its pipeline class for a Hub model
(`of_pipeline`), from the collection's metadata for images the platform cannot run
(`parse_family_group`, which also reads the usual spellings of a collection's `family` or
`architecture` column). Evaluation reports AP per group, like the paper's table.
"""

from __future__ import annotations

import re

FAMILY_GROUPS = ("latent_diffusion", "pixel_diffusion", "gan", "commercial", "other")

# Pipeline classes whose denoiser works on pixels, or that are not diffusion at all; every
# other diffusers text-to-image class the platform samples denoises a VAE's latents.
_PIXEL_PIPELINES = frozenset({
    "IFPipeline", "IFSuperResolutionPipeline", "DDPMPipeline", "UnCLIPPipeline",
})
_OTHER_PIPELINES = frozenset({"AmusedPipeline"})  # masked tokens of a VQ model, no diffusion

# Spellings seen in collections' metadata (the CF release's `architecture` column, folder
# names, CSVs written by hand), matched after lower-casing and folding '-', ' ' to '_'.
_ALIASES: dict[str, str] = {
    **{g: g for g in FAMILY_GROUPS},
    "latent": "latent_diffusion", "ldm": "latent_diffusion", "latent_diffusion_model":
    "latent_diffusion", "stable_diffusion": "latent_diffusion", "dit": "latent_diffusion",
    "mmdit": "latent_diffusion", "sd": "latent_diffusion", "ld": "latent_diffusion",
    "pixel": "pixel_diffusion", "pixel_space_diffusion": "pixel_diffusion",
    "pixel_space": "pixel_diffusion", "ddpm": "pixel_diffusion", "pd": "pixel_diffusion",
    "adm": "pixel_diffusion", "cascaded_pixel_diffusion": "pixel_diffusion",
    "gans": "gan", "stylegan": "gan", "biggan": "gan", "progan": "gan", "dcgan": "gan",
    "closed": "commercial", "closed_source": "commercial", "proprietary": "commercial",
    "api": "commercial", "autoregressive": "other", "vq": "other", "vae": "other",
}


def of_pipeline(pipeline_class: str | None) -> str:
    """The group of a diffusers pipeline class (None or unknown classes: 'other')."""
    if not pipeline_class:
        return "other"
    if pipeline_class in _PIXEL_PIPELINES:
        return "pixel_diffusion"
    if pipeline_class in _OTHER_PIPELINES:
        return "other"
    if pipeline_class.endswith("Pipeline"):
        return "latent_diffusion"
    return "other"


def parse_family_group(text: str) -> str:
    """A family group from a collection's metadata; unknown text fails naming the valid ones."""
    key = re.sub(r"[\s\-]+", "_", str(text).strip().lower())
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(
        f"unknown family group {str(text)[:80]!r}; use one of {', '.join(FAMILY_GROUPS)} "
        f"(or a usual spelling: {', '.join(sorted(k for k in _ALIASES if k not in FAMILY_GROUPS))})"
    )


def family_group_of(row: dict) -> str:
    """The group of a `model_metadata` row: its recorded `family_group`, else its pipeline
    class's (rows written before family groups existed)."""
    recorded = row.get("family_group")
    return recorded if recorded in FAMILY_GROUPS else of_pipeline(row.get("pipeline_class"))
