"""Resource limits as pure functions: bytes, text files, pixels, config ranges, seconds."""

from __future__ import annotations

import io

import pytest

from fakeimg_assets.lib.errors import ResourceLimitError
from fakeimg_assets.sampling.limits import (
    Deadline,
    SamplingLimits,
    check_config_ranges,
    check_download_bytes,
    check_requested_size,
    check_resolution,
    check_text_file_size,
    native_resolution,
)
from fakeimg_assets.sampling.load import load_pipeline
from fakeimg_assets.sampling.plan import plan_download
from fakeimg_assets.sampling.remote_plan import check_plan_limits
from fakeimg_assets.sampling.sample import check_inputs, sample_images
from fakeimg_assets.sampling.types import ImageRequest, SamplingError, SamplingParams
from tests.helpers.partitions import prepare_partition, run_partition
from tests.helpers.plans import SD_FILES, SD_INDEX
from tests.helpers.zoo import local_prepared, pick

ZOO_UNET = {"sample_size": 8, "block_out_channels": [4, 8], "in_channels": 4, "out_channels": 4,
            "layers_per_block": 1, "attention_head_dim": 2, "cross_attention_dim": 32,
            "num_attention_heads": None, "transformer_layers_per_block": 1}
ZOO_VAE = {"sample_size": 64, "block_out_channels": [4, 4, 8, 8], "in_channels": 3,
           "out_channels": 3, "latent_channels": 4, "layers_per_block": 1}
SD3_TRANSFORMER = {"sample_size": 128, "patch_size": 2, "in_channels": 16, "num_layers": 24,
                   "attention_head_dim": 64, "num_attention_heads": 24,
                   "joint_attention_dim": 4096, "caption_projection_dim": 1536}


def test_limits_defaults_and_validation() -> None:
    lim = SamplingLimits()
    assert lim.max_download_bytes == 40 * 10**9 and lim.max_text_file_bytes == 16 * 2**20
    assert lim.max_resolution_px == 2048 and lim.max_seconds > 0
    with pytest.raises(ValueError, match="max_resolution_px must be a positive integer"):
        SamplingLimits(max_resolution_px=0)
    with pytest.raises(ValueError, match="max_seconds must be > 0"):
        SamplingLimits(max_seconds=0)
    with pytest.raises(AttributeError):
        lim.max_seconds = 1.0  # type: ignore[misc]  # frozen


def test_download_cap_names_bytes_and_cap() -> None:
    lim = SamplingLimits(max_download_bytes=1000)
    check_download_bytes("o/m", 1000, lim)
    with pytest.raises(ResourceLimitError, match=r"o/m: planned download .*1001 bytes.*cap.*1000"):
        check_download_bytes("o/m", 1001, lim)


def test_text_file_cap() -> None:
    lim = SamplingLimits()
    check_text_file_size("o/m", "unet/config.json", 16 * 2**20, lim)
    with pytest.raises(ResourceLimitError, match=r"'tokenizer/vocab.json' is 16.00 MiB.*cap"):
        check_text_file_size("o/m", "tokenizer/vocab.json", 16 * 2**20 + 1, lim)


def test_plan_limits_from_the_listing_before_any_fetch() -> None:
    plan = plan_download(SD_INDEX, {**SD_FILES, "tokenizer/vocab.json": 17 * 2**20})
    with pytest.raises(ResourceLimitError, match="tokenizer/vocab.json"):
        check_plan_limits("o/m", plan, SamplingLimits())
    small = plan_download(SD_INDEX, SD_FILES)
    check_plan_limits("o/m", small, SamplingLimits())
    with pytest.raises(ResourceLimitError, match="planned download"):
        check_plan_limits("o/m", small, SamplingLimits(max_download_bytes=small.downloaded_bytes - 1))
    # weights are not text files: a 1 GB unet passes the text cap
    big = plan_download(SD_INDEX, {**SD_FILES, "unet/diffusion_pytorch_model.safetensors": 10**9})
    check_plan_limits("o/m", big, SamplingLimits())


def test_native_resolution_and_cap() -> None:
    lim = SamplingLimits()
    assert native_resolution(ZOO_UNET, ZOO_VAE) == 64
    assert native_resolution(SD3_TRANSFORMER, {"block_out_channels": [128, 256, 512, 512]}) == 1024
    assert native_resolution({"sample_size": [96, 128]}, ZOO_VAE) == 1024
    assert check_resolution("o/m", ZOO_UNET, ZOO_VAE, lim) == 64
    bomb = {**ZOO_UNET, "sample_size": 4096}
    with pytest.raises(ResourceLimitError, match=r"native resolution 32768x32768 px.*cap of 2048"):
        check_resolution("o/m", bomb, ZOO_VAE, lim)
    with pytest.raises(ResourceLimitError, match="block_out_channels"):
        native_resolution(ZOO_UNET, {"block_out_channels": None})
    with pytest.raises(ResourceLimitError, match="sample_size"):
        native_resolution({"sample_size": "big"}, ZOO_VAE)


def test_requested_size_above_cap_refused() -> None:
    lim = SamplingLimits(max_resolution_px=512)
    check_requested_size(512, None, lim)
    with pytest.raises(ResourceLimitError, match="requested width 1024 px.*cap of 512"):
        check_requested_size(None, 1024, lim)
    plan = plan_download(SD_INDEX, SD_FILES)
    with pytest.raises(ResourceLimitError, match="requested height 4096"):
        check_inputs(SD_INDEX, plan, SamplingParams(height=4096), SamplingLimits())
    with pytest.raises(SamplingError, match="multiple of 8"):
        check_inputs(SD_INDEX, plan, SamplingParams(height=60), SamplingLimits())


@pytest.mark.parametrize("config", [ZOO_UNET, ZOO_VAE, SD3_TRANSFORMER, {"num_train_timesteps": 1000}])
def test_sane_configs_pass(config: dict) -> None:
    check_config_ranges("o/m", "x/config.json", config)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("sample_size", 0),
        ("in_channels", -4),
        ("layers_per_block", 10_000),
        ("num_layers", 100_000),
        ("num_train_timesteps", 0),
        ("num_train_timesteps", 10**9),
        ("block_out_channels", [4, 10**6]),
        ("block_out_channels", [4] * 100),
        ("attention_head_dim", True),
        ("num_attention_heads", 2.5),
        ("transformer_layers_per_block", [[1, 1], [1, 5000]]),
    ],
)
def test_insane_configs_refused_with_key(key: str, value: object) -> None:
    with pytest.raises(ResourceLimitError, match=f"unet/config.json {key}"):
        check_config_ranges("o/m", "unet/config.json", {**ZOO_UNET, key: value})


def test_deadline_trips_once_spent() -> None:
    now = [100.0]
    d = Deadline(10.0, clock=lambda: now[0])
    d.check("0 of 3 batches")
    now[0] = 110.0
    d.check("1 of 3 batches")  # exactly at the budget is fine
    now[0] = 110.5
    with pytest.raises(ResourceLimitError, match=r"10.5 s > max_seconds=10 \(2 of 3 batches\)"):
        d.check("2 of 3 batches")


# -- sampling a real tiny pipeline: time budget between batches, one generator per image ------


@pytest.fixture(scope="module")
def tiny_pipe(zoo_dir, zoo_catalog, tmp_path_factory):
    import torch

    prepared = local_prepared(zoo_dir, zoo_catalog, tmp_path_factory.mktemp("tiny"))
    return prepared, load_pipeline(prepared, device="cpu", dtype=torch.float32)


def _sample(tiny_pipe, requests, deadline=None):
    import torch

    prepared, pipe = tiny_pipe
    params = SamplingParams(n_images=len(requests), steps=2, batch_size=2)
    run = sample_images(pipe, prepared, requests, params, device="cpu", dtype=torch.float32,
                      deadline=deadline)
    return {i.request.seed: i for i in run.images}


def test_time_limit_aborts_between_batches(tiny_pipe) -> None:
    ticks = iter(range(100))
    deadline = Deadline(1.5, clock=lambda: float(next(ticks)))  # +1 s per check
    reqs = [ImageRequest(i, "a cat", None, 10 + i) for i in range(6)]
    with pytest.raises(ResourceLimitError, match=r"max_seconds=1.5 \(1 of 3 batches sampled\)"):
        _sample(tiny_pipe, reqs, deadline)
    assert len(_sample(tiny_pipe, reqs[:2], Deadline(3600.0))) == 2


def test_each_image_depends_only_on_its_own_seed(tiny_pipe) -> None:
    """Image A is the same whatever its batch mate and position: one generator per image."""
    import numpy as np
    from PIL import Image

    a = ImageRequest(0, "a red cube", None, 1234)
    b = ImageRequest(1, "a red cube", None, 99)
    c = ImageRequest(1, "a red cube", None, 7)
    runs = [_sample(tiny_pipe, batch)[a.seed] for batch in ([b, a], [c, a], [a, b])]
    pixels = [np.asarray(Image.open(io.BytesIO(r.png)), dtype=np.int16) for r in runs]
    for other in pixels[1:]:
        assert np.abs(pixels[0] - other).max() <= 2
    other_img = np.asarray(Image.open(io.BytesIO(_sample(tiny_pipe, [a, b])[b.seed].png)))
    assert np.abs(pixels[0] - other_img.astype(np.int16)).mean() > 5  # seeds do matter


# -- the asset: weights removed after sampling unless kept; the time budget from run config --


@pytest.mark.slow
def test_sampled_images_weights_and_time_budget(resources: dict, home, zoo_catalog) -> None:
    import dagster as dg

    from fakeimg_assets.models.assets import model_metadata, sampled_images
    from fakeimg_assets.models.refusals import latest_metadata
    from fakeimg_assets.warehouse.store import Warehouse

    model_id = pick(zoo_catalog, expect="ok", architecture="pixart").model_id

    def cfg(**extra: object) -> dict:
        config = {"images_per_model": 2, "steps": 2, **extra}
        return {"ops": {"sampled_images": {"config": config}}}

    def weights() -> list[str]:
        return [p.name for p in (home / "hf-cache").rglob("*.safetensors")]

    with dg.instance_for_test() as instance:
        prepare_partition(instance, resources, model_id)
        assert run_partition(model_metadata, instance, resources, model_id).success
        assert run_partition(sampled_images, instance, resources, model_id,
                    run_config=cfg(keep_weights=True)).success
        assert weights()  # kept on request
        assert run_partition(sampled_images, instance, resources, model_id,
                             run_config=cfg(force=True)).success  # the same request: forced
        assert weights() == []  # removed by default
        assert list((home / "hf-cache").rglob("model_index.json"))  # small files stay
        slow = run_partition(sampled_images, instance, resources, model_id,
                    run_config=cfg(max_seconds=1e-6, keep_weights=True, force=True))
        assert slow.success  # over a limit: a refusal, the partition says why
        meta = latest_metadata(instance, "sampled_images", model_id)
        assert meta["outcome"] == "refused" and "ResourceLimitError" in meta["refused_reason"]
        assert weights()  # kept on request even when the partition is refused
    failures = Warehouse(home).read("model_failures").sort("failed_at")
    row = failures.row(-1, named=True)
    assert row["error_type"] == "ResourceLimitError" and "max_seconds" in row["message"]
