"""Few-step SD1/SDXL derivatives: which evidence picks which variant, and what it samples with."""

from __future__ import annotations

import pytest

from fakeimg_assets.sampling import recipes
from fakeimg_assets.sampling.recipes.distilled import DISTILLED, tag_words

LCM_UNET = {"scheduler": {"_class_name": "LCMScheduler"}, "unet": {"time_cond_proj_dim": 256}}


@pytest.mark.parametrize(
    ("base", "configs", "tags", "expected"),
    [
        ("sd1", {}, ["diffusers", "text-to-image"], "sd1"),
        ("sd1", LCM_UNET, [], "sd1-lcm"),  # guidance embedded: w = 8, no CFG pass
        ("sd1", {"scheduler": {"_class_name": "LCMScheduler"}}, [], "sd1-lcm-nocfg"),
        ("sdxl", {}, ["lcm", "base_model:adapter:stabilityai/stable-diffusion-xl-base-1.0"],
         "sdxl-lcm-nocfg"),
        ("sdxl", {}, ["stabilityai/sdxl-turbo"], "sdxl-turbo"),  # the repo id is evidence
        ("sd1", {}, ["base_model:finetune:stabilityai/sd-turbo"], "sd1-turbo"),
        ("sdxl", {}, ["base_model:adapter:ByteDance/SDXL-Lightning"], "sdxl-lightning"),
        ("sdxl", {}, ["base_model:adapter:ByteDance/Hyper-SD"], "sdxl-hyper"),
        ("sdxl", {}, ["library:pytorch-lightning"], "sdxl"),  # a library, not lineage
        ("sdxl", {}, ["turbocharged-colors"], "sdxl"),  # a word, not a substring
        ("pixart", {}, ["lightning"], "pixart"),  # only SD1/SDXL have these variants
    ],
)  # fmt: skip
def test_variant_chosen_from_scheduler_unet_and_tags(
    base: str, configs: dict, tags: list[str], expected: str
) -> None:
    assert recipes.variant_for(base, configs, tags) == expected


def test_variants_keep_the_base_allow_list_and_carry_the_cards_settings() -> None:
    settings = {"lcm": (4, 8.0), "lcm-nocfg": (4, 1.0), "turbo": (1, 0.0),
                "lightning": (4, 0.0), "hyper": (8, 0.0)}  # fmt: skip
    for base, names in DISTILLED.items():
        parent = recipes.get_recipe(base)
        assert sorted(names) == sorted(f"{base}-{s}" for s in settings)
        for name in names:
            r = recipes.get_recipe(name)
            assert r.distilled and r.pipeline_classes == ()
            assert r.components == parent.components and r.architecture == parent.architecture
            assert (r.default_steps, r.default_guidance) == settings[name[len(base) + 1 :]]
    # the pipeline class still maps to the base recipe: variants are chosen by evidence only
    assert recipes.recipe_for_pipeline("StableDiffusionXLPipeline").name == "sdxl"


def test_tag_words_split_lineage_and_drop_library_tags() -> None:
    words = tag_words(["base_model:adapter:ByteDance/SDXL-Lightning", "pytorch_lightning"])
    assert words == {"base", "model", "adapter", "bytedance", "sdxl", "lightning"}
