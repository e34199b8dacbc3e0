"""Sampling plans as pure functions: image requests, the recipe registry, download plans."""

from __future__ import annotations

import pytest

from fakeimg_assets.sampling.plan import plan_download
from fakeimg_assets.sampling.recipes import UnknownRecipeError, get_recipe, recipe_for_pipeline
from fakeimg_assets.sampling.sample import image_requests
from fakeimg_assets.sampling.types import UnsafeRepoError
from tests.helpers.plans import SD_FILES, SD_INDEX


def test_image_requests_deterministic_and_cycle_prompts() -> None:
    pool = [("p1", "a cat"), ("p2", "a dog"), ("p3", "a car")]
    a = image_requests("org/m", 5, pool)
    assert a == image_requests("org/m", 5, pool)
    assert [r.index for r in a] == list(range(5))
    assert {r.prompt for r in a[:3]} == {"a cat", "a dog", "a car"}
    assert [r.seed for r in a] != [r.seed for r in image_requests("org/other", 5, pool)]
    with pytest.raises(ValueError, match="prompt pool is empty"):
        image_requests("org/m", 2, [])


def test_recipe_registry_fails_loudly() -> None:
    assert get_recipe("sd1").architecture == "sd1"
    with pytest.raises(UnknownRecipeError, match="unknown sampling recipe 'nope'.*known: "):
        get_recipe("nope")
    with pytest.raises(UnknownRecipeError, match="no sampling recipe for pipeline class 'Foo'"):
        recipe_for_pipeline("Foo")
    with pytest.raises(UnknownRecipeError, match="remote code"):
        recipe_for_pipeline(["pipeline", "EvilPipeline"])


def test_plan_downloads_only_needed_safetensors() -> None:
    plan = plan_download(SD_INDEX, SD_FILES, model_id="o/m")
    assert plan.variant is None
    assert "unet/diffusion_pytorch_model.safetensors" in plan.files
    for skipped in (
        "model.ckpt",
        "unet/diffusion_pytorch_model.bin",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "text_encoder/pytorch_model.bin",
        "safety_checker/model.safetensors",
        "README.md",
    ):
        assert skipped not in plan.files and skipped in plan.skipped
    assert plan.downloaded_bytes == 500 + 100 + 4000 + 100 + 3000 + 100 + 2000 + 150 + 50
    assert plan.repo_bytes == sum(SD_FILES.values())
    assert plan.architecture == "sd1"


def test_plan_falls_back_to_fp16_variant_only_when_complete() -> None:
    files = {k: v for k, v in SD_FILES.items() if not k.endswith("diffusion_pytorch_model.safetensors")}
    files["vae/diffusion_pytorch_model.fp16.safetensors"] = 1500
    files["text_encoder/model.fp16.safetensors"] = 1000
    plan = plan_download(SD_INDEX, files)
    assert plan.variant == "fp16"
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in plan.files


def test_plan_refuses_pickle_only_component() -> None:
    files = {k: v for k, v in SD_FILES.items() if k != "unet/diffusion_pytorch_model.safetensors"}
    files.pop("unet/diffusion_pytorch_model.fp16.safetensors")
    with pytest.raises(UnsafeRepoError, match="'unet' has no safetensors weights.*never unpickles"):
        plan_download(SD_INDEX, files, model_id="o/m")


def test_plan_refuses_custom_code_and_untrusted_libraries() -> None:
    with pytest.raises(UnsafeRepoError, match="remote code"):
        plan_download({**SD_INDEX, "_class_name": ["pipeline", "Evil"]}, SD_FILES)
    with pytest.raises(UnsafeRepoError, match="comes from 'evil_lib'"):
        plan_download({**SD_INDEX, "unet": ["evil_lib", "Net"]}, SD_FILES)
    with pytest.raises(UnsafeRepoError, match="no model_index.json"):
        plan_download(SD_INDEX, {"unet/config.json": 1})


def test_plan_never_downloads_code_files() -> None:
    files = {**SD_FILES, "unet/modeling.py": 10}
    assert "unet/modeling.py" not in plan_download(SD_INDEX, files).files
