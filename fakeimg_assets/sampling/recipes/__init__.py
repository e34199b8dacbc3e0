"""Sampling recipes: how to load and call each diffusers text-to-image pipeline class.

A registry plus factory in the manner of timm's `create_model`: `registry.py` holds the
registry and imports none of the families; each family module registers its recipes from
it; this package imports the families, so importing `fakeimg_assets.sampling.recipes`
gives the full registry. An unknown pipeline class fails loudly, naming the class and the
ones we know, instead of falling back to anything that could run repo code.
"""

from fakeimg_assets.sampling.recipes import (  # noqa: F401 - imported to register their recipes
    distilled,
    transformer,
    transformer_qwen,
    unet,
)
from fakeimg_assets.sampling.recipes.registry import (
    CLIP_TOKENIZERS,
    EPS_SCHEDULERS,
    FLOW_SCHEDULERS,
    T5_TOKENIZERS,
    UNSUPPORTED,
    SamplingRecipe,
    UnknownRecipeError,
    component_refusal,
    get_recipe,
    list_recipes,
    recipe_for_pipeline,
    register_recipe,
    register_unsupported,
    register_variant,
    supported_pipeline_classes,
    variant_bases,
    variant_for,
)

__all__ = [
    "CLIP_TOKENIZERS", "EPS_SCHEDULERS", "FLOW_SCHEDULERS", "T5_TOKENIZERS", "UNSUPPORTED",
    "SamplingRecipe", "UnknownRecipeError", "component_refusal", "get_recipe", "list_recipes",
    "recipe_for_pipeline", "register_recipe", "register_unsupported", "register_variant",
    "supported_pipeline_classes", "variant_bases", "variant_for",
]
