"""Sampling recipes: how to load and call each diffusers text-to-image pipeline class.

A registry plus factory in the manner of timm's `create_model`: an unknown pipeline class
fails loudly, naming the class and the ones we know, instead of falling back to anything
that could run repo code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Schedulers that need no extra packages and sample text-to-image latents: an explicit list,
# so a repo cannot name some other diffusers class (a pipeline, a model) in the scheduler slot.
EPS_SCHEDULERS = (
    "DDIMScheduler",
    "DDPMScheduler",
    "PNDMScheduler",
    "LMSDiscreteScheduler",
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "HeunDiscreteScheduler",
    "DPMSolverMultistepScheduler",
    "DPMSolverSinglestepScheduler",
    "KDPM2DiscreteScheduler",
    "KDPM2AncestralDiscreteScheduler",
    "DEISMultistepScheduler",
    "UniPCMultistepScheduler",
    "LCMScheduler",
    "TCDScheduler",
)
FLOW_SCHEDULERS = ("FlowMatchEulerDiscreteScheduler", "FlowMatchHeunDiscreteScheduler")
CLIP_TOKENIZERS = ("CLIPTokenizer", "CLIPTokenizerFast")
T5_TOKENIZERS = ("T5Tokenizer", "T5TokenizerFast")


def diffusers_classes(*classes: str) -> tuple[str, tuple[str, ...]]:
    return ("diffusers", classes)


def transformers_classes(*classes: str) -> tuple[str, tuple[str, ...]]:
    return ("transformers", classes)


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
    # the allow-list: component name -> (library, accepted classes); anything else is refused
    components: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    load_kwargs: dict[str, Any] = field(default_factory=dict)
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    # the authors' default image side in px (None: the pipeline derives it from its configs)
    default_size: int | None = None
    # snapshot dir -> px to sample at when the caller asks for no size (pipelines whose own
    # default is a constant, not their configs': a tiny repo must not be run at 1024 px)
    native_size: Callable[[Path], int | None] | None = None
    # the pipeline's names for the sampler's `num_inference_steps` / `guidance_scale`
    call_names: Mapping[str, str] = field(default_factory=dict)
    # stands in for `<Pipeline>.from_pretrained(path, dtype=..., **load kwargs)` where
    # diffusers cannot load its own layout (e.g. the cascades' Paella VQGAN in 0.42)
    load: Callable[..., Any] | None = None
    # largest batch the pipeline samples correctly; 1 also passes one generator, not a list
    max_batch: int | None = None
    # largest batch worth sampling on a CPU, where a larger one was measured slower than
    # one call per image (`benchmarks.ratios`); GPUs batch up to `max_batch`
    cpu_max_batch: int | None = None
    # a distilled few-step model (schnell, Turbo, LCM...): its steps/guidance override requests
    distilled: bool = False


_RECIPES: dict[str, SamplingRecipe] = {}
_BY_CLASS: dict[str, SamplingRecipe] = {}
# pipeline classes known and refused, with the reason (failure rows, `fakeimg recipes`)
UNSUPPORTED: dict[str, str] = {}


def register_unsupported(pipeline_class: str, reason: str) -> None:
    """Record why a pipeline class is refused, so its failure row says why."""
    if pipeline_class in _BY_CLASS or pipeline_class in UNSUPPORTED:
        raise ValueError(f"pipeline class {pipeline_class!r} is already registered")
    UNSUPPORTED[pipeline_class] = reason


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


# few-step (distilled) variants: base recipe name -> [(variant, rule(configs, tags))]
_VARIANTS: dict[str, list[tuple[SamplingRecipe, Callable[..., bool]]]] = {}


def register_variant(
    base: str, variant: SamplingRecipe, rule: Callable[[Mapping[str, Any], list[str]], bool]
) -> SamplingRecipe:
    """`variant` replaces recipe `base` for a repo whose configs/tags `rule` matches (schnell)."""
    register_recipe(variant)
    _VARIANTS.setdefault(base, []).append((variant, rule))
    return variant


def variant_for(name: str, configs: Mapping[str, Any], tags: list[str]) -> str:
    """The recipe a repo samples with: its distilled variant of `name` if one matches, else it.

    `configs` maps `model_index` and component names (`transformer`/`unet`, `vae`,
    `scheduler`) to their parsed JSON; `tags` are the Hub's tags (card tags plus
    `base_model:...` lineage)."""
    for variant, rule in _VARIANTS.get(name, ()):
        if rule(configs, tags):
            return variant.name
    return name


def variant_bases() -> dict[str, str]:
    """`{variant recipe name: the recipe it is a few-step variant of}`."""
    return {v.name: base for base, variants in _VARIANTS.items() for v, _ in variants}


def component_refusal(recipe: SamplingRecipe, name: str, spec: object) -> str | None:
    """Why `model_index.json` entry `name: spec` is not acceptable for this recipe, or None."""
    if name not in recipe.components:
        return f"{name!r} is not a component of {recipe.name} pipelines"
    if not (isinstance(spec, list | tuple) and len(spec) == 2 and all(isinstance(s, str) for s in spec)):
        return f"component {name!r} has malformed spec {spec!r}"
    library, cls = spec
    want_lib, classes = recipe.components[name]
    if cls.endswith("Pipeline"):
        return f"component {name!r} is a nested pipeline ({library}.{cls}); refused"
    if library != want_lib or cls not in classes:
        return (
            f"component {name!r} is {library}.{cls}; a {recipe.name} pipeline accepts only "
            f"{want_lib}.{{{', '.join(classes)}}} there"
        )
    return None


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
    if pipeline_class in UNSUPPORTED:
        raise UnknownRecipeError(
            f"pipeline class {pipeline_class!r} is not supported: {UNSUPPORTED[pipeline_class]}"
        )
    try:
        return _BY_CLASS[pipeline_class]
    except KeyError:
        raise UnknownRecipeError(
            f"no sampling recipe for pipeline class {pipeline_class!r}; supported: "
            f"{', '.join(supported_pipeline_classes())}"
        ) from None
