"""Transformer (flow-matching DiT) recipes: registry, distilled variants, native sizes, and
each tiny zoo repo sampled end to end through the platform's own path (loopback Hub,
`fetch_plan` -> verified download -> offline safetensors load -> `run`)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import dagster as dg
import pytest

from fakeimg_assets.lib.errors import ResourceLimitError
from fakeimg_assets.sampling import recipes
from fakeimg_assets.sampling.fetch import prepare
from fakeimg_assets.sampling.limits import SamplingLimits, check_declared_size
from fakeimg_assets.sampling.load import load_pipeline
from fakeimg_assets.sampling.plan import plan_download
from fakeimg_assets.sampling.recipes.transformer import is_flux_schnell, vae_declared_size
from fakeimg_assets.sampling.remote_plan import fetch_plan
from fakeimg_assets.sampling.sample import batch_size_for, image_requests, sample_images
from fakeimg_assets.sampling.types import SamplingParams, UnsafeRepoError
from fakeimg_assets.testbed.zoo.models import transformer_models
from resources import HubResource

ASSIGNED = (
    "FluxPipeline", "Flux2Pipeline", "Flux2KleinPipeline", "ChromaPipeline", "SanaPipeline",
    "QwenImagePipeline", "HiDreamImagePipeline", "Lumina2Pipeline", "AuraFlowPipeline",
    "HunyuanDiTPipeline", "ZImagePipeline",
)
# zoo architecture -> the recipe the platform must pick for it
EXPECTED_RECIPE = {
    "flux": "flux", "flux-schnell": "flux-schnell", "chroma": "chroma", "sana": "sana",
    "lumina2": "lumina2", "auraflow": "auraflow",
    "hunyuandit": "hunyuandit", "zimage-turbo": "zimage-turbo",
    "flux2-klein": "flux2-klein-distilled", "qwenimage": "qwenimage",
    "flux2": "flux2",
}


# ---------------------------------------------------------------------------- registry


def test_every_assigned_class_has_a_recipe_or_a_written_reason() -> None:
    supported = set(recipes.supported_pipeline_classes())
    for cls in ASSIGNED:
        assert (cls in supported) != (cls in recipes.UNSUPPORTED), cls
        if cls in recipes.UNSUPPORTED:
            reason = recipes.UNSUPPORTED[cls]
            assert len(reason) > 20
            with pytest.raises(KeyError, match=re.escape("not supported: " + reason[:40])):
                recipes.recipe_for_pipeline(cls)
    for name in ("flux", "flux-schnell", "chroma"):
        r = recipes.get_recipe(name)
        assert r.default_steps >= 1 and r.default_size == 1024 and r.native_size is not None


def test_unsupported_class_fails_its_plan_with_the_reason() -> None:
    refused = sorted(c for c in ASSIGNED if c in recipes.UNSUPPORTED)
    if not refused:
        pytest.skip("every assigned class is supported")
    index = {"_class_name": refused[0], "transformer": ["diffusers", "X"]}
    with pytest.raises(UnsafeRepoError, match=re.escape(recipes.UNSUPPORTED[refused[0]][:40])):
        plan_download(index, {"model_index.json": 10, "transformer/config.json": 10})


def test_flux_allow_list_refuses_a_foreign_text_encoder() -> None:
    index = {
        "_class_name": "FluxPipeline",
        "transformer": ["diffusers", "FluxTransformer2DModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "text_encoder_2": ["transformers", "LlamaForCausalLM"],  # not T5
        "tokenizer_2": ["transformers", "T5TokenizerFast"],
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
    }
    sizes = {"model_index.json": 1} | {f"{k}/config.json": 1 for k in index if k[0] != "_"}
    with pytest.raises(UnsafeRepoError, match="'text_encoder_2' is transformers.LlamaForCausalLM"):
        plan_download(index, sizes)


# ---------------------------------------------------------------------------- distilled


def test_flux_schnell_detected_from_config_or_lineage_tags() -> None:
    dev = {"transformer": {"guidance_embeds": True}}
    schnell = {"transformer": {"guidance_embeds": False}}
    assert not is_flux_schnell(dev, ["flux", "base_model:black-forest-labs/FLUX.1-dev"])
    assert is_flux_schnell(schnell, [])
    assert is_flux_schnell(dev, ["base_model:finetune:black-forest-labs/FLUX.1-schnell"])
    assert recipes.variant_for("flux", dev, []) == "flux"
    assert recipes.variant_for("flux", schnell, []) == "flux-schnell"
    assert recipes.variant_for("chroma", schnell, ["schnell"]) == "chroma"  # flux only


def test_other_distilled_variants_from_model_index_or_turbo_tags() -> None:
    klein = {"model_index": {"_class_name": "Flux2KleinPipeline", "is_distilled": True}}
    assert recipes.variant_for("flux2-klein", klein, []) == "flux2-klein-distilled"
    klein["model_index"]["is_distilled"] = False  # klein-base: real CFG, 50 steps
    assert recipes.variant_for("flux2-klein", klein, ["klein"]) == "flux2-klein"
    turbo = ["base_model:finetune:Tongyi-MAI/Z-Image-Turbo"]
    assert recipes.variant_for("zimage", {}, turbo) == "zimage-turbo"
    assert recipes.variant_for("zimage", {}, ["base_model:Tongyi-MAI/Z-Image"]) == "zimage"
    for name in ("flux-schnell", "zimage-turbo", "flux2-klein-distilled"):
        assert recipes.get_recipe(name).distilled and recipes.get_recipe(name).default_steps <= 9


# ---------------------------------------------------------------------------- sizes


def test_declared_size_for_pipelines_whose_size_is_a_constant(tmp_path: Path) -> None:
    limits = SamplingLimits()
    assert check_declared_size("o/m", {"sample_size": 64}, 1024, limits) == 64
    assert check_declared_size("o/m", {}, 1024, limits) == 1024  # the recipe's default
    assert check_declared_size("o/m", {}, None, limits) is None
    with pytest.raises(ResourceLimitError, match="4096x4096 px .* above the resolution cap"):
        check_declared_size("o/m", {"sample_size": 4096}, 1024, limits)
    with pytest.raises(ResourceLimitError, match="sample_size='64' is not a size"):
        check_declared_size("o/m", {"sample_size": "64"}, 1024, limits)
    (tmp_path / "vae").mkdir()
    assert vae_declared_size(tmp_path) is None  # no config: the pipeline's own default
    (tmp_path / "vae" / "config.json").write_text('{"sample_size": 1024}')
    assert vae_declared_size(tmp_path) == 1024


def test_a_recipe_batches_on_a_cpu_only_where_batching_pays_there() -> None:
    """Sana samples one image a call on a CPU (batched, its Gemma 2 encoder ran slower
    than the `pipe(prompt)` loop), its requested batch on a GPU, and a recorded batch as it
    was (regeneration); the pipeline's own limit holds everywhere."""
    sana = recipes.get_recipe("sana")
    assert sana.cpu_max_batch == 1
    assert batch_size_for(sana, 4, "cpu") == 1
    assert batch_size_for(sana, 4, "cuda:0") == batch_size_for(sana, 4, "cuda:3") == 4
    assert batch_size_for(sana, 4, "cpu", recorded=True) == 4
    flux = recipes.get_recipe("flux")
    assert flux.cpu_max_batch is None and batch_size_for(flux, 4, "cpu") == 4
    wuerstchen = recipes.get_recipe("wuerstchen")
    assert batch_size_for(wuerstchen, 4, "cuda:0") == 1
    assert batch_size_for(wuerstchen, 4, "cpu", recorded=True) == 1


# ---------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("model", transformer_models(), ids=lambda m: m.architecture)
def test_zoo_repo_samples_end_to_end(model, hub_url: str, tmp_path: Path) -> None:
    import torch

    hub = HubResource(endpoint=hub_url, cache_dir=str(tmp_path / "cache"))
    remote = fetch_plan(hub, model.model_id)
    assert remote.plan.pipeline_class == model.pipeline_class
    assert remote.plan.recipe == EXPECTED_RECIPE[model.architecture]
    assert remote.native_px == 64
    assert not [f for f in remote.plan.files if f.endswith((".bin", ".ckpt")) or ".fp16." in f]
    t0 = time.perf_counter()
    prepared = prepare(model.model_id, remote.revision, remote.plan, hub.download)
    pipe = load_pipeline(prepared, device="cpu", dtype=torch.float32)
    t1 = time.perf_counter()
    requests = image_requests(model.model_id, 2, [("p", "a red fox in the snow")])
    params = SamplingParams(n_images=2, steps=1, batch_size=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: one thread beats two on a shared 2-core machine
    try:
        run = sample_images(pipe, prepared, requests, params, device="cpu", dtype=torch.float32)
    finally:
        torch.set_num_threads(threads)
    t2 = time.perf_counter()
    print(f"{model.model_id}: load {t1 - t0:.2f} s, 2 images {t2 - t1:.2f} s")
    recipe = recipes.get_recipe(remote.plan.recipe)
    assert run.recipe == recipe.name and run.scheduler == model.scheduler
    assert [(i.width, i.height) for i in run.images] == [(64, 64)] * 2
    assert run.batch_size == (1 if model.architecture == "sana" else 2)  # as it sampled
    if recipe.distilled:  # few-step settings win over the requested 1 step
        assert (run.steps, run.guidance_scale) == (recipe.default_steps, recipe.default_guidance)
    else:
        assert (run.steps, run.guidance_scale) == (1, recipe.default_guidance)
    assert len({i.png for i in run.images}) == 2  # different seeds, different images


@pytest.mark.slow
def test_schnell_partition_records_its_variant_and_few_step_settings(
    resources: dict, home: Path
) -> None:
    """Through the Dagster assets: the metadata row names the variant, images its 4 steps."""
    from fakeimg_assets.lib.paths import model_slug
    from fakeimg_assets.models.assets import model_metadata, sampled_images
    from fakeimg_assets.warehouse.store import Warehouse
    from tests.helpers.partitions import SMALL_SAMPLING, prepare_partition, run_partition

    model = next(m for m in transformer_models() if m.architecture == "flux-schnell")
    with dg.instance_for_test() as instance:
        prepare_partition(instance, resources, model.model_id)
        assert run_partition(model_metadata, instance, resources, model.model_id).success
        assert run_partition(
            sampled_images, instance, resources, model.model_id, run_config=SMALL_SAMPLING
        ).success  # asks for 2 steps
    wh = Warehouse(home)
    meta = wh.read_key("model_metadata", model_slug(model.model_id)).row(0, named=True)
    assert meta["recipe"] == "flux-schnell" and meta["pipeline_class"] == "FluxPipeline"
    images = wh.read_key("images", f"fake--{model_slug(model.model_id)}")
    assert images.height == 3
    assert set(images["steps"]) == {4} and set(images["guidance_scale"]) == {0.0}
    assert set(zip(images["width"], images["height"], strict=True)) == {(64, 64)}
    # regenerated from its row (at the recorded 4 steps and 64 px): byte-identical
    from fakeimg_assets.sampling.regenerate import regenerate_image

    again = regenerate_image(f"fake:{model.model_id}:00001", home=home, hub=resources["hub"])
    assert again.identical, (again.recorded_sha256, again.regenerated_sha256)


def test_recipes_cli_lists_supported_and_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from fakeimg_assets.cli import main

    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    assert "flux-schnell" in out and "distilled variant of flux" in out
    for cls in ASSIGNED:
        assert cls in out, cls
    for cls, reason in recipes.UNSUPPORTED.items():
        assert f"refused: {reason}" in out, cls
