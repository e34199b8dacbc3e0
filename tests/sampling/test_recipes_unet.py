"""UNet / cascade / pixel-space recipes: registry, sizes, the by-parts loader, and each tiny
zoo repo sampled end to end through the platform's own path (loopback Hub, `fetch_plan` ->
verified download -> offline safetensors load -> `run`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fakeimg_assets.lib.errors import ResourceLimitError
from fakeimg_assets.sampling import recipes
from fakeimg_assets.sampling.fetch import prepare
from fakeimg_assets.sampling.load import load_pipeline
from fakeimg_assets.sampling.plan import plan_download
from fakeimg_assets.sampling.recipes.unet import declared_latent_size
from fakeimg_assets.sampling.recipes.unet_loader import load_by_parts
from fakeimg_assets.sampling.remote_plan import fetch_plan
from fakeimg_assets.sampling.sample import image_requests, sample_images
from fakeimg_assets.sampling.types import SamplingParams, UnsafeRepoError
from fakeimg_assets.testbed.zoo.models import NATIVE_PX, unet_models
from resources import HubResource

ASSIGNED = (
    "KolorsPipeline", "KandinskyV22CombinedPipeline", "Kandinsky3Pipeline",
    "StableCascadeCombinedPipeline", "WuerstchenCombinedPipeline", "IFPipeline",
    "AmusedPipeline",
)
# zoo architecture -> (recipe, native px of the tiny repo, images per pipeline call)
EXPECTED = {
    "kolors": ("kolors", 64, 2),
    "kandinsky3": ("kandinsky3", 64, 2),
    "kandinsky22": ("kandinsky22", 64, 2),
    "stable_cascade": ("stable_cascade", 128, 2),
    "wuerstchen": ("wuerstchen", 128, 1),
    "deepfloyd_if": ("deepfloyd_if", 64, 2),
    "amused": ("amused", 64, 1),
}


def test_every_assigned_class_has_a_recipe() -> None:
    supported = set(recipes.supported_pipeline_classes())
    assert set(ASSIGNED) <= supported and not set(ASSIGNED) & set(recipes.UNSUPPORTED)
    assert {m.architecture for m in unet_models()} == set(EXPECTED)
    assert all(NATIVE_PX.get(arch, 64) == px for arch, (_, px, _) in EXPECTED.items())


def _cascade_index(decoder: str) -> tuple[dict, dict]:
    index = {
        "_class_name": "StableCascadeCombinedPipeline",
        "decoder": ["diffusers", decoder],
        "prior_prior": ["diffusers", "StableCascadeUNet"],
        "vqgan": ["diffusers", "PaellaVQModel"],
        "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
        "prior_text_encoder": ["transformers", "CLIPTextModelWithProjection"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "prior_tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "DDPMWuerstchenScheduler"],
        "prior_scheduler": ["diffusers", "DDPMWuerstchenScheduler"],
        "prior_image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
        "prior_feature_extractor": ["transformers", "CLIPImageProcessor"],
    }
    sizes = {"model_index.json": 1} | {f"{k}/config.json": 1 for k in index if k[0] != "_"}
    for k in ("decoder", "prior_prior", "vqgan", "prior_image_encoder"):
        sizes[f"{k}/diffusion_pytorch_model.safetensors"] = 100
    return index, sizes


def test_cascade_plan_skips_image_prompt_parts_and_pins_the_decoder_class() -> None:
    plan = plan_download(*_cascade_index("StableCascadeUNet"))
    assert plan.recipe == "stable_cascade"
    assert not [f for f in plan.files if f.startswith(("prior_image_encoder", "prior_feature"))]
    with pytest.raises(UnsafeRepoError, match="'decoder' is diffusers.UNet2DConditionModel"):
        plan_download(*_cascade_index("UNet2DConditionModel"))


def _kolors_index(text_encoder: list[str]) -> tuple[dict, dict]:
    index = {
        "_class_name": "KolorsPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": text_encoder,
        "tokenizer": ["kolors", "ChatGLMTokenizer"],
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "image_encoder": [None, None],
    }
    sizes = {"model_index.json": 1, "tokenizer/tokenizer.model": 1}
    sizes |= {f"{k}/config.json": 1 for k in ("unet", "vae", "text_encoder", "scheduler")}
    sizes |= {"text_encoder/modeling_chatglm.py": 1, "text_encoder/model.safetensors": 9}
    return index, sizes


def test_kolors_trusts_diffusers_own_kolors_module_for_chatglm_only() -> None:
    plan = plan_download(*_kolors_index(["kolors", "ChatGLMModel"]))
    assert plan.recipe == "kolors" and "text_encoder/model.safetensors" in plan.files
    assert not [f for f in plan.files if f.endswith(".py")]  # a repo's ChatGLM code: never
    with pytest.raises(UnsafeRepoError, match="'text_encoder' is kolors.LlamaModel"):
        plan_download(*_kolors_index(["kolors", "LlamaModel"]))
    with pytest.raises(UnsafeRepoError, match="comes from 'chatglm'"):
        plan_download(*_kolors_index(["chatglm", "ChatGLMModel"]))


def test_native_sizes_declared_default_and_capped(tmp_path: Path) -> None:
    k3, cascade = recipes.get_recipe("kandinsky3"), recipes.get_recipe("stable_cascade")
    k22 = recipes.get_recipe("kandinsky22")
    assert k3.native_size(tmp_path) == 1024 and cascade.native_size(tmp_path) == 1024
    assert k22.native_size(tmp_path) == 512  # the authors' defaults when nothing is declared
    for comp, config in (("unet", {"sample_size": 8}), ("prior_prior", {"sample_size": 24}),
                         ("movq", {"block_out_channels": [8, 8, 8, 8]})):
        (tmp_path / comp).mkdir()
        (tmp_path / comp / "config.json").write_text(json.dumps(config))
    assert k3.native_size(tmp_path) == 64 and k22.native_size(tmp_path) == 64
    assert cascade.native_size(tmp_path) == 1024  # 24 latent cells: the real Stable Cascade
    (tmp_path / "unet" / "config.json").write_text('{"sample_size": "8"}')
    assert declared_latent_size(tmp_path, "unet") is None
    (tmp_path / "unet" / "config.json").write_text('{"sample_size": 320}')
    with pytest.raises(ResourceLimitError, match="2560x2560 px .* above the resolution cap"):
        k3.native_size(tmp_path)


def test_by_parts_loader_loads_only_allow_listed_classes(tmp_path: Path) -> None:
    (tmp_path / "vqgan").mkdir()
    (tmp_path / "model_index.json").write_text(
        json.dumps({"_class_name": "WuerstchenCombinedPipeline", "vqgan": ["os", "system"]})
    )
    with pytest.raises(ValueError, match="vqgan: class 'system' is not loadable by parts"):
        load_by_parts("WuerstchenCombinedPipeline")(str(tmp_path))


@pytest.mark.parametrize("model", unet_models(), ids=lambda m: m.architecture)
def test_zoo_repo_samples_end_to_end(model, hub_url: str, tmp_path: Path) -> None:
    import torch

    recipe_name, px, per_call = EXPECTED[model.architecture]
    hub = HubResource(endpoint=hub_url, cache_dir=str(tmp_path / "cache"))
    remote = fetch_plan(hub, model.model_id)
    assert (remote.plan.pipeline_class, remote.plan.recipe) == (model.pipeline_class, recipe_name)
    assert remote.native_px == px  # the recipe's hook at plan time, against the cap
    assert not [f for f in remote.plan.files if f.endswith((".bin", ".ckpt")) or ".fp16." in f]
    t0 = time.perf_counter()
    prepared = prepare(model.model_id, remote.revision, remote.plan, hub.download)
    pipe = load_pipeline(prepared, device="cpu", dtype=torch.float32)
    t1 = time.perf_counter()
    requests = image_requests(model.model_id, 2, [("p", "a red fox in the snow")])
    params = SamplingParams(n_images=2, steps=2, batch_size=2)
    run = sample_images(pipe, prepared, requests, params, device="cpu", dtype=torch.float32)
    print(f"{model.model_id}: load {t1 - t0:.2f} s, 2 images {time.perf_counter() - t1:.2f} s")
    recipe = recipes.get_recipe(recipe_name)
    assert run.recipe == recipe_name and run.scheduler == model.scheduler
    assert (run.steps, run.guidance_scale, run.batch_size) == (2, recipe.default_guidance, per_call)
    assert [(i.width, i.height) for i in run.images] == [(px, px)] * 2
    assert len({i.png for i in run.images}) == 2  # different seeds, different images
    if per_call == 1:  # the single-generator path: a rerun of one image is byte-exact
        again = sample_images(pipe, prepared, requests[1:], params, device="cpu", dtype=torch.float32)
        assert again.images[0].png == run.images[1].png


@pytest.mark.slow
def test_cascade_partition_records_prior_settings_and_native_size(
    resources: dict, home: Path
) -> None:
    """Through the Dagster assets (batch 2 from the conftest's compute resource): the
    Wuerstchen partition samples one image per call at 128 px and records what it used."""
    import dagster as dg

    from fakeimg_assets.lib.paths import model_slug
    from fakeimg_assets.models.assets import model_metadata, sampled_images
    from fakeimg_assets.warehouse.store import Warehouse
    from tests.helpers.partitions import SMALL_SAMPLING, prepare_partition, run_partition

    model = next(m for m in unet_models() if m.architecture == "wuerstchen")
    with dg.instance_for_test() as instance:
        prepare_partition(instance, resources, model.model_id)
        assert run_partition(model_metadata, instance, resources, model.model_id).success
        assert run_partition(
            sampled_images, instance, resources, model.model_id, run_config=SMALL_SAMPLING
        ).success  # asks for 3 images at 2 steps
    wh = Warehouse(home)
    meta = wh.read_key("model_metadata", model_slug(model.model_id)).row(0, named=True)
    assert (meta["recipe"], meta["pipeline_class"]) == ("wuerstchen", model.pipeline_class)
    images = wh.read_key("images", f"fake--{model_slug(model.model_id)}")
    assert images.height == 3 and set(images["steps"]) == {2}
    assert set(images["guidance_scale"]) == {4.0} and set(images["batch_size"]) == {1}
    assert set(zip(images["width"], images["height"], strict=True)) == {(128, 128)}
    assert set(images["scheduler"]) == {"DDPMWuerstchenScheduler"}
