"""Sampling recipes: how to load and call each diffusers text-to-image pipeline class.

A registry plus factory in the manner of timm's `create_model`: an unknown pipeline class
fails loudly, naming the class and the ones we know, instead of falling back to anything
that could run repo code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class UnknownRecipeError(KeyError):
    """No sampling recipe for this pipeline class."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


@dataclass(frozen=True)
class SamplingRecipe:
    """Everything architecture-specific about sampling one pipeline class."""

    name: str
    architecture: str
    pipeline_classes: tuple[str, ...]
    default_steps: int
    default_guidance: float
    # components we never download or load (set to None in from_pretrained)
    skip_components: tuple[str, ...] = ("safety_checker", "feature_extractor", "image_encoder")
    # components that may be absent from a repo (model_index null) and are passed as None
    optional_components: tuple[str, ...] = ()
    load_kwargs: dict[str, Any] = field(default_factory=dict)
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""


_RECIPES: dict[str, SamplingRecipe] = {}
_BY_CLASS: dict[str, SamplingRecipe] = {}


def register_recipe(recipe: SamplingRecipe) -> SamplingRecipe:
    if recipe.name in _RECIPES:
        raise ValueError(f"sampling recipe {recipe.name!r} is already registered")
    for cls in recipe.pipeline_classes:
        if cls in _BY_CLASS:
            raise ValueError(f"pipeline class {cls!r} already has recipe {_BY_CLASS[cls].name!r}")
    _RECIPES[recipe.name] = recipe
    for cls in recipe.pipeline_classes:
        _BY_CLASS[cls] = recipe
    return recipe


def list_recipes() -> list[str]:
    return sorted(_RECIPES)


def supported_pipeline_classes() -> list[str]:
    return sorted(_BY_CLASS)


def get_recipe(name: str) -> SamplingRecipe:
    """Recipe by its own name."""
    try:
        return _RECIPES[name]
    except KeyError:
        raise UnknownRecipeError(
            f"unknown sampling recipe {name!r}; known: {', '.join(list_recipes())}"
        ) from None


def recipe_for_pipeline(pipeline_class: object) -> SamplingRecipe:
    """Recipe for a `model_index.json` `_class_name`; custom (remote-code) pipelines refused."""
    if not isinstance(pipeline_class, str):
        raise UnknownRecipeError(
            f"pipeline class {pipeline_class!r} is a custom pipeline (remote code); "
            "fakeimg never runs code from a repo"
        )
    try:
        return _BY_CLASS[pipeline_class]
    except KeyError:
        raise UnknownRecipeError(
            f"no sampling recipe for pipeline class {pipeline_class!r}; supported: "
            f"{', '.join(supported_pipeline_classes())}"
        ) from None


register_recipe(
    SamplingRecipe(
        name="sd1",
        architecture="sd1",
        pipeline_classes=("StableDiffusionPipeline",),
        default_steps=25,
        default_guidance=7.5,
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
        description="SDXL UNet with two CLIP text encoders",
    )
)
register_recipe(
    SamplingRecipe(
        name="sd3",
        architecture="sd3",
        pipeline_classes=("StableDiffusion3Pipeline",),
        default_steps=28,
        default_guidance=7.0,
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
        call_kwargs={"use_resolution_binning": False, "clean_caption": False},
        description="PixArt DiT transformer with a T5 text encoder",
    )
)
