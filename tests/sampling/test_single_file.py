"""Single-file checkpoints: original-format safetensors + the pinned base's configs, never .ckpt."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest

from fakeimg_assets.lib.paths import model_slug
from fakeimg_assets.models.assets import model_metadata, sampled_images
from fakeimg_assets.sampling.plan import is_weight_file
from fakeimg_assets.sampling.remote_plan import fetch_plan, single_file_ref
from fakeimg_assets.sampling.repo_kind import base_from_tags
from fakeimg_assets.sampling.types import UnsupportedRepoError
from fakeimg_assets.warehouse.store import Warehouse
from resources import HubResource
from tests.helpers.partitions import SMALL_SAMPLING, prepare_partition, run_partition

SINGLE = "kestrel_ai/toonify-1.5-single-file"
BASE = "kestrel_ai/toonify-1.5"


def test_original_checkpoint_round_trips_through_from_single_file(tmp_path: Path) -> None:
    import diffusers
    import torch
    from safetensors.torch import save_file

    from fakeimg_assets.testbed.zoo.ldm_checkpoint import sd1_original_checkpoint
    from fakeimg_assets.testbed.zoo.models import zoo_models
    from fakeimg_assets.testbed.zoo.registry import build_pipeline

    pipe = build_pipeline(next(m for m in zoo_models() if m.model_id == BASE))
    pipe.save_pretrained(tmp_path / "base")
    state = sd1_original_checkpoint(pipe)
    assert any(k.startswith("model.diffusion_model.input_blocks.") for k in state)
    assert any(k.startswith("first_stage_model.decoder.up.") for k in state)
    save_file(state, str(tmp_path / "one.safetensors"))
    loaded = diffusers.StableDiffusionPipeline.from_single_file(
        str(tmp_path / "one.safetensors"), config=str(tmp_path / "base"), local_files_only=True,
        safety_checker=None, requires_safety_checker=False,
    )
    for name in ("unet", "vae", "text_encoder"):
        want, got = getattr(pipe, name).state_dict(), getattr(loaded, name).state_dict()
        assert set(want) == set(got), name
        for key, value in want.items():
            assert torch.equal(value, got[key].reshape(value.shape)), (name, key)


def test_base_must_be_named_and_ckpt_is_never_taken() -> None:
    assert base_from_tags(["diffusers", "base_model:finetune:a/b"]) == "a/b"
    assert base_from_tags(["base_model:a/b"]) == "a/b" and base_from_tags(None) is None
    info = SimpleNamespace(card_data={"license": "mit"}, tags=["safetensors"])
    with pytest.raises(UnsupportedRepoError, match="names no base_model"):
        single_file_ref(None, "o/m", info, {"m.safetensors": 10}, None)  # type: ignore[arg-type]
    with pytest.raises(UnsupportedRepoError, match=r"pickle-only single-file checkpoint: .*m\.ckpt"):
        single_file_ref(None, "o/m", info, {"m.ckpt": 10, "README.md": 1}, None)  # type: ignore[arg-type]


@pytest.mark.slow
def test_single_file_partition_fetches_checkpoint_and_base_configs_only(
    resources: dict, home: Path
) -> None:
    from fakeimg_assets.sampling.regenerate import regenerate_image

    hub: HubResource = resources["hub"]
    api = hub.api()
    base_sha = api.model_info(BASE).sha
    sizes = {s.rfilename: s.size for s in api.model_info(SINGLE, files_metadata=True).siblings}
    with dg.instance_for_test() as instance:
        prepare_partition(instance, resources, SINGLE)
        assert run_partition(model_metadata, instance, resources, SINGLE).success
        row = Warehouse(home).read_key("model_metadata", model_slug(SINGLE)).row(0, named=True)
        assert row["kind"] == "single_file" and row["base_model"] == BASE
        assert row["base_revision"] == base_sha and row["adapter_scale"] is None
        assert row["pipeline_class"] == "StableDiffusionPipeline" and row["architecture"] == "sd1"
        ckpt = f"{SINGLE.split('/')[1]}.safetensors"
        assert f"{SINGLE.split('/')[1]}.ckpt" in sizes  # present in the repo, never planned
        base_snap = hub.snapshot_dir(BASE, base_sha)
        configs = sum(f.size for f in fetch_plan(hub, BASE).plan.expected
                      if not is_weight_file(f.path))
        assert row["downloaded_bytes"] == sizes[ckpt] + configs  # checkpoint + base configs
        assert run_partition(sampled_images, instance, resources, SINGLE,
                             run_config=SMALL_SAMPLING).success
    assert Warehouse(home).read_key("images", f"fake--{model_slug(SINGLE)}").height == 3
    cache = Path(hub.resolved_cache_dir())
    fetched = [p.name for p in cache.rglob("*") if p.is_file() or p.is_symlink()]
    assert not [n for n in fetched if n.endswith((".ckpt", ".bin"))]
    assert not list(base_snap.rglob("*.safetensors"))  # no base weights: configs only
    again = regenerate_image(f"fake:{SINGLE}:00002", home=home, hub=hub)
    assert again.identical
