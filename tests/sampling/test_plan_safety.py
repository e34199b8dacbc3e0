"""Exact file names, allow-listed components, Hub cache/token resolution: pure, no network."""

from __future__ import annotations

import pytest

from fakeimg_assets.lib.paths import InvalidModelIdError, model_slug
from fakeimg_assets.sampling.limits import limits_of
from fakeimg_assets.sampling.plan import plan_download
from fakeimg_assets.sampling.recipes import get_recipe
from fakeimg_assets.sampling.types import UnsafeRepoError
from tests.helpers.plans import SD_FILES, SD_INDEX


@pytest.mark.parametrize("bad", ["a/b..c", "a..b/c", "a/b.c..", "a.b/c..d"])
def test_double_dot_inside_model_id_rejected(bad: str) -> None:
    with pytest.raises(InvalidModelIdError, match="no '--' or '..'"):
        model_slug(bad)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("unet/*", "glob"),
        ("tokenizer/special[1].json", "glob"),
        ("unet/config?.json", "glob"),
        ("unet/a\x00b.json", "control"),
        ("unet/a\nb.json", "control"),
        ("unet\\config.json", "backslash"),
        ("unet/../../etc/passwd", "'..'"),
        ("/etc/passwd", "absolute"),
        ("unet//config.json", "segment"),
    ],
)
def test_unsafe_file_names_are_named(name: str, why: str) -> None:
    from fakeimg_assets.hub_client.verified import unsafe_name_reason

    assert why in (unsafe_name_reason(name) or "")
    assert unsafe_name_reason("unet/diffusion_pytorch_model.safetensors") is None


@pytest.mark.parametrize("name", ["unet/*", "tokenizer/special[1].json", "vae/x\ty.json"])
def test_plan_refuses_planned_names_that_are_not_exact(name: str) -> None:
    with pytest.raises(UnsafeRepoError, match=r"o/m: planned file .* refused: .*exact name"):
        plan_download(SD_INDEX, {**SD_FILES, name: 10}, model_id="o/m")


@pytest.mark.parametrize(
    ("slot", "spec", "reason"),
    [
        ("unet", ["diffusers", "DiffusionPipeline"], "nested pipeline"),
        ("text_encoder", ["diffusers", "StableDiffusionPipeline"], "nested pipeline"),
        ("unet", ["diffusers", "AutoencoderKL"], "accepts only diffusers.{UNet2DConditionModel}"),
        ("vae", ["transformers", "AutoencoderKL"], "accepts only diffusers"),
        ("scheduler", ["diffusers", "UNet2DConditionModel"], "'scheduler' is diffusers.UNet2D"),
        ("tokenizer", ["transformers", "AutoTokenizer"], "'tokenizer' is transformers.AutoTok"),
        ("refiner", ["diffusers", "UNet2DConditionModel"], "not a component of sd1"),
    ],
)
def test_plan_allow_lists_components(slot: str, spec: list, reason: str) -> None:
    files = {**SD_FILES, f"{slot}/config.json": 10, f"{slot}/model.safetensors": 10}
    with pytest.raises(UnsafeRepoError, match=reason.replace("{", r"\{").replace("}", r"\}")):
        plan_download({**SD_INDEX, slot: spec}, files, model_id="o/m")


def test_plan_refuses_missing_or_null_required_component() -> None:
    with pytest.raises(UnsafeRepoError, match="required component 'vae' is null"):
        plan_download({**SD_INDEX, "vae": [None, None]}, SD_FILES)
    index = {k: v for k, v in SD_INDEX.items() if k != "text_encoder"}
    with pytest.raises(UnsafeRepoError, match=r"lacks required component\(s\) \['text_encoder'\]"):
        plan_download(index, SD_FILES)


def test_plan_carries_the_listing_for_verification() -> None:
    sha = {"unet/diffusion_pytorch_model.safetensors": "a" * 64, "model.ckpt": "b" * 64}
    plan = plan_download(SD_INDEX, SD_FILES, sha256s=sha)
    by_path = {f.path: f for f in plan.expected}
    assert set(by_path) == set(plan.files)
    assert by_path["unet/diffusion_pytorch_model.safetensors"].sha256 == "a" * 64
    assert by_path["unet/config.json"].size == 100 and by_path["unet/config.json"].sha256 is None
    assert plan.sha256_json() == '{"unet/diffusion_pytorch_model.safetensors": "' + "a" * 64 + '"}'


def test_every_recipe_lists_explicit_schedulers_and_no_pipelines() -> None:
    from fakeimg_assets.sampling.recipes import list_recipes

    for name in list_recipes():
        recipe = get_recipe(name)
        library, schedulers = recipe.components["scheduler"]
        assert library == "diffusers" and schedulers
        assert all(c.endswith("Scheduler") for c in schedulers)
        for _lib, classes in recipe.components.values():
            assert not any(c.endswith("Pipeline") for c in classes)
        assert set(recipe.optional_components) <= set(recipe.components)


def test_hub_cache_and_token_resolved_at_run_time(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from resources import HubResource

    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("FAKEIMG_HOME", str(tmp_path / "home"))
    hub = HubResource()
    assert hub.resolved_cache_dir() == (tmp_path / "home" / "hf-cache").resolve()
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "shared-cache"))
    assert hub.resolved_cache_dir() == tmp_path / "shared-cache"
    assert HubResource(cache_dir=str(tmp_path / "x")).resolved_cache_dir() == tmp_path / "x"
    assert hub.auth() is False  # never None: that would fall back to a stored login
    assert HubResource(token="hf_abc").auth() == "hf_abc"
    lim = limits_of(HubResource(max_resolution_px=512), max_seconds=5.0)
    assert lim.max_resolution_px == 512 and lim.max_seconds == 5.0
