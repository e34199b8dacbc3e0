"""LoRA adapter repos: planned against a pinned, shared base; applied; refused with reasons."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from fakeimg_assets.lib.paths import model_slug
from fakeimg_assets.models.assets import model_metadata, sampled_images
from fakeimg_assets.models.refusals import latest_metadata
from fakeimg_assets.sampling.load import check_lora_keys
from fakeimg_assets.sampling.remote_plan import fetch_plan
from fakeimg_assets.sampling.repo_kind import classify_repo, pick_weights_file, trigger_words
from fakeimg_assets.sampling.sample import with_trigger_words
from fakeimg_assets.sampling.types import ImageRequest, UnsupportedRepoError
from fakeimg_assets.warehouse.store import Warehouse
from resources import HubResource
from tests.helpers.partitions import SMALL_SAMPLING, prepare_partition, run_partition

SD1_LORA = "inkwell-studio/dreamscape-watercolor-lora"  # instance_prompt trigger
SD1_LORA_2 = "kestrel_ai/dreamscape-pixelart-lora"  # widget-text trigger, same base
BASE = "pixelsmith/dreamscape-v1"
LIGHTNING = "swiftbolt/velvet-lightning-4step-lora"  # SDXL adapter known as Lightning by name


# ---------------------------------------------------------------------------- pure rules


def test_classify_repo_by_files_and_tags() -> None:
    assert classify_repo(["model_index.json", "unet/x.safetensors"], ["lora"]) == "pipeline"
    assert classify_repo(["pytorch_lora_weights.safetensors"]) == "lora"
    assert classify_repo(["style.safetensors"], ["base_model:adapter:a/b"]) == "lora"
    assert classify_repo(["style.safetensors"], ["LoRA"]) == "lora"
    assert classify_repo(["model.safetensors", "README.md"]) == "single_file"
    assert classify_repo(["model.ckpt"]) == "single_file"
    assert classify_repo(["README.md", "sub/pytorch_lora_weights.safetensors"]) == "other"


def test_weights_file_choice_and_pickle_refusal() -> None:
    assert pick_weights_file("o/m", ["a.safetensors", "README.md"], what="x") == "a.safetensors"
    two = ["a.safetensors", "pytorch_lora_weights.safetensors"]
    assert pick_weights_file("o/m", two, what="x") == "pytorch_lora_weights.safetensors"
    with pytest.raises(UnsupportedRepoError, match="ambiguous"):
        pick_weights_file("o/m", ["a.safetensors", "b.safetensors"], what="x")
    with pytest.raises(UnsupportedRepoError, match=r"pickle-only .*lora.bin"):
        pick_weights_file("o/m", ["lora.bin", "lora.pt"], what="LoRA adapter")
    with pytest.raises(UnsupportedRepoError, match="no root .safetensors"):
        pick_weights_file("o/m", ["README.md", "sub/a.safetensors"], what="x")


def test_trigger_words_from_card_and_prompts_prefixed_once() -> None:
    assert trigger_words({"instance_prompt": " sks dog ", "widget": [{"text": "w"}]}) == "sks dog"
    assert trigger_words({"widget": [{"output": {}}, {"text": "neon"}]}) == "neon"
    assert trigger_words({"base_model": "a/b"}) is None
    from fakeimg_assets.sampling.types import BaseRef

    class Plan:  # the two fields with_trigger_words reads
        kind = "lora"
        base = BaseRef("a/b", "0" * 40, None, "x.safetensors", 1.0, "sks")  # type: ignore[arg-type]

    reqs = [ImageRequest(0, "a cat", "p0", 1), ImageRequest(1, "sks, a dog", "p1", 2)]
    out = with_trigger_words(reqs, Plan())  # type: ignore[arg-type]
    assert [r.prompt for r in out] == ["sks, a cat", "sks, a dog"]  # idempotent (regeneration)
    assert [r.seed for r in out] == [1, 2]


def test_non_lora_safetensors_is_not_taken_for_an_adapter(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    save_file({"conv.weight": torch.zeros(2)}, str(tmp_path / "a.safetensors"))
    with pytest.raises(UnsupportedRepoError, match="no LoRA keys"):
        check_lora_keys(tmp_path / "a.safetensors", "o/m")
    save_file({"unet.x.lora.down.weight": torch.zeros(2)}, str(tmp_path / "b.safetensors"))
    assert check_lora_keys(tmp_path / "b.safetensors", "o/m") == 1


# ---------------------------------------------------------------------------- assets


def _meta(home: Path, model_id: str) -> dict:
    return Warehouse(home).read_key("model_metadata", model_slug(model_id)).row(0, named=True)


@pytest.mark.slow
def test_lora_partitions_share_one_pinned_base_and_apply_the_adapter(
    resources: dict, home: Path, hub_url: str
) -> None:
    hub: HubResource = resources["hub"]
    api = hub.api()
    base_sha = api.model_info(BASE).sha

    def adapter_bytes(model_id: str) -> int:
        siblings = api.model_info(model_id, files_metadata=True).siblings
        return {s.rfilename: s.size for s in siblings}["pytorch_lora_weights.safetensors"]

    with dg.instance_for_test() as instance:
        prepare_partition(instance, resources, SD1_LORA)
        instance.add_dynamic_partitions("hub_models", [SD1_LORA_2])
        assert run_partition(model_metadata, instance, resources, SD1_LORA).success
        first = _meta(home, SD1_LORA)
        assert first["kind"] == "lora" and first["base_model"] == BASE
        assert first["base_revision"] == base_sha and first["adapter_scale"] == 1.0
        assert first["trigger_words"] == "wtrclr watercolor painting"
        assert first["pipeline_class"] == "StableDiffusionPipeline"
        base_plan = fetch_plan(hub, BASE).plan
        # nothing cached yet: the adapter plus every planned file of the base
        assert first["downloaded_bytes"] == adapter_bytes(SD1_LORA) + base_plan.downloaded_bytes

        result = run_partition(sampled_images, instance, resources, SD1_LORA,
                               run_config=SMALL_SAMPLING)
        assert result.success
        images = Warehouse(home).read_key("images", f"fake--{model_slug(SD1_LORA)}")
        assert images.height == 3
        assert all(p.startswith("wtrclr watercolor painting, ") for p in images["prompt"])

        # the base stays cached for the next adapter; this adapter's own weights are removed
        base_snap = hub.snapshot_dir(BASE, base_sha)
        assert (base_snap / "unet" / "diffusion_pytorch_model.safetensors").is_file()
        assert not list(hub.resolved_cache_dir().glob(
            f"models--{SD1_LORA.replace('/', '--')}/snapshots/*/*.safetensors"
        ))

        assert run_partition(model_metadata, instance, resources, SD1_LORA_2).success
        second = _meta(home, SD1_LORA_2)
        assert second["downloaded_bytes"] == adapter_bytes(SD1_LORA_2)  # base cached
        assert second["base_revision"] == base_sha and second["trigger_words"] == "pxlrt pixel art"
        assert first["downloaded_bytes"] > 10 * second["downloaded_bytes"]
        assert run_partition(
            sampled_images, instance, resources, SD1_LORA_2, run_config=SMALL_SAMPLING
        ).success


@pytest.mark.slow
def test_lora_image_regenerates_byte_exact_and_differs_from_its_base(
    resources: dict, home: Path
) -> None:
    import torch

    from fakeimg_assets.sampling.fetch import prepare
    from fakeimg_assets.sampling.load import base_prepared, load_pipeline
    from fakeimg_assets.sampling.regenerate import regenerate_image
    from fakeimg_assets.sampling.sample import sample_images
    from fakeimg_assets.sampling.types import SamplingParams

    hub: HubResource = resources["hub"]
    with dg.instance_for_test() as instance:
        prepare_partition(instance, resources, SD1_LORA)
        assert run_partition(model_metadata, instance, resources, SD1_LORA).success
        assert run_partition(
            sampled_images, instance, resources, SD1_LORA, run_config=SMALL_SAMPLING
        ).success
    image_id = f"fake:{SD1_LORA}:00001"
    again = regenerate_image(image_id, home=home, hub=hub, keep_weights=True)
    assert again.identical, (again.recorded_sha256, again.regenerated_sha256)

    # the same request through the bare base gives other pixels: the adapter was applied
    remote = fetch_plan(hub, SD1_LORA)
    prepared = prepare(SD1_LORA, remote.revision, remote.plan, hub.download)
    reqs = with_trigger_words([ImageRequest(0, "a red boat", None, 7)], remote.plan)
    params = SamplingParams(n_images=1, steps=2, batch_size=1)
    kw = {"device": "cpu", "dtype": torch.float32}
    with_lora = sample_images(load_pipeline(prepared, **kw), prepared, reqs, params, **kw)
    bare = base_prepared(prepared)
    without = sample_images(load_pipeline(bare, **kw), bare, reqs, params, **kw)
    assert with_lora.images[0].request.prompt == without.images[0].request.prompt
    assert with_lora.images[0].png != without.images[0].png


@pytest.mark.slow
def test_a_few_step_adapter_samples_with_its_authors_settings(
    resources: dict, home: Path
) -> None:
    """A Lightning LoRA must not be sampled with the base's 25 steps and CFG (nor with the
    run's requested 2 steps): the sdxl-lightning recipe's 4 steps and guidance 0 win."""
    with dg.instance_for_test() as instance:
        prepare_partition(instance, resources, LIGHTNING)
        assert run_partition(model_metadata, instance, resources, LIGHTNING).success
        meta = _meta(home, LIGHTNING)
        assert (meta["kind"], meta["recipe"]) == ("lora", "sdxl-lightning")
        assert meta["pipeline_class"] == "StableDiffusionXLPipeline"
        assert run_partition(
            sampled_images, instance, resources, LIGHTNING, run_config=SMALL_SAMPLING
        ).success
        images = Warehouse(home).read_key("images", f"fake--{model_slug(LIGHTNING)}")
        assert images.height == 3
        assert set(images["steps"]) == {4} and set(images["guidance_scale"]) == {0.0}


@pytest.mark.parametrize(
    ("model_id", "reason"),
    [
        ("lostandfound/orphan-style-lora", "is not on the Hub"),
        ("oldschool-ckpt/pickled-portrait-lora", "pickle-only LoRA adapter"),
        ("glasshouse-ml/pixart-glass-lora", "takes no LoRA adapters"),
    ],
)
def test_unusable_adapters_are_refused_with_a_failure_row(
    resources: dict, home: Path, model_id: str, reason: str
) -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hub_models", [model_id])
        # a refusal by design: the partition materializes as refused, naming the reason
        assert run_partition(model_metadata, instance, resources, model_id).success
        meta = latest_metadata(instance, "model_metadata", model_id)
        assert meta["outcome"] == "refused" and reason in meta["refused_reason"], meta
    row = Warehouse(home).read("model_failures").row(0, named=True)
    assert row["model_id"] == model_id and row["stage"] == "plan"
    assert reason in row["message"] and row["transient"] is False and row["refused"] is True
    assert row["error_type"] == "UnsupportedRepoError"
    cache = Path(resources["hub"].resolved_cache_dir())
    assert not [p for p in cache.rglob("*") if p.suffix in (".bin", ".pt")]  # never fetched


def test_a_base_that_is_itself_an_adapter_is_refused_even_in_a_cycle(tmp_path: Path) -> None:
    from fakeimg_assets.testbed.local_hub.server import HubServer

    for name, base in (("a/one-lora", "a/two-lora"), ("a/two-lora", "a/one-lora")):
        repo = tmp_path / "zoo" / name
        repo.mkdir(parents=True)
        (repo / "README.md").write_text(
            f"---\nlibrary_name: diffusers\npipeline_tag: text-to-image\nbase_model: {base}\n"
            "tags:\n- lora\n---\n"
        )
        (repo / "pytorch_lora_weights.safetensors").write_bytes(b"\0" * 64)
    with HubServer(tmp_path / "zoo") as server:
        hub = HubResource(endpoint=server.url, cache_dir=str(tmp_path / "cache"))
        with pytest.raises(UnsupportedRepoError, match="'a/two-lora' is not a diffusers pipeline"):
            fetch_plan(hub, "a/one-lora")


@pytest.mark.slow
def test_a_lora_samples_on_the_base_revision_its_metadata_recorded(
    zoo_dir: Path, home: Path, tmp_path: Path
) -> None:
    """The base changes after `model_metadata` pinned it: sampling and regeneration refuse,
    naming `base_revision`, instead of drawing from a base other than the one recorded."""
    import json
    import shutil

    from fakeimg_assets.definitions import build_resources
    from fakeimg_assets.sampling.regenerate import regenerate_image
    from fakeimg_assets.testbed.local_hub.server import HubServer
    from resources import ComputeResource

    root = tmp_path / "hub"
    for repo in (BASE, SD1_LORA):
        shutil.copytree(zoo_dir / repo, root / repo)
    with HubServer(root) as server, dg.instance_for_test() as instance:
        res = build_resources(home=str(home), endpoint=server.url,
                              compute=ComputeResource(device="cpu", batch_size=2))
        prepare_partition(instance, res, SD1_LORA)
        assert run_partition(model_metadata, instance, res, SD1_LORA).success
        assert run_partition(sampled_images, instance, res, SD1_LORA,
                             run_config=SMALL_SAMPLING).success
        pinned = _meta(home, SD1_LORA)["base_revision"]

        config = root / BASE / "scheduler" / "scheduler_config.json"  # one file of the base
        config.write_text(json.dumps({**json.loads(config.read_text()), "steps_offset": 0}))
        assert res["hub"].model_info(BASE).sha != pinned  # the base moved on

        # the same request finds its images intact ('unchanged'); forced, it must not draw
        # from another base: refused, naming the pinned revision
        assert run_partition(sampled_images, instance, res, SD1_LORA,
                             run_config=SMALL_SAMPLING).success
        assert latest_metadata(instance, "sampled_images", SD1_LORA)["outcome"] == "unchanged"
        forced = {"ops": {"sampled_images": {"config": {
            **SMALL_SAMPLING["ops"]["sampled_images"]["config"], "force": True}}}}
        result = run_partition(sampled_images, instance, res, SD1_LORA, run_config=forced)
        assert result.success
        refused = latest_metadata(instance, "sampled_images", SD1_LORA)
        assert refused["outcome"] == "refused" and f"base_revision {pinned}" in refused[
            "refused_reason"]
        with pytest.raises(UnsupportedRepoError, match=f"base_revision {pinned}"):
            regenerate_image(f"fake:{SD1_LORA}:00000", home=home, hub=res["hub"])
    failure = Warehouse(home).read("model_failures").filter(
        pl.col("model_id") == SD1_LORA).to_dicts()
    assert len(failure) == 1 and f"base_revision {pinned}" in failure[0]["message"]
    assert failure[0]["transient"] is False and failure[0]["asset"] == "sampled_images"
    assert _meta(home, SD1_LORA)["base_revision"] == pinned  # the record is unchanged
