"""A model is sized before any component is instantiated: a memory budget over every
component's parameters (from configs, on the meta device), and weights that cover the
parameters each config declares (from safetensors headers)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fakeimg_assets.lib.errors import ResourceLimitError
from fakeimg_assets.sampling import load as load_stage
from fakeimg_assets.sampling.components import (
    CPU_BUDGET_FRACTION,
    check_model_fits,
    machine_memory_bytes,
    memory_budget,
    safetensors_index,
)
from fakeimg_assets.sampling.load import load_pipeline
from fakeimg_assets.sampling.types import IncompleteWeightsError, PreparedModel
from tests.helpers.zoo import local_prepared, pick

BIG_CLIP = {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 6,
            "num_attention_heads": 16}  # ~300M parameters declared


def _grow_text_encoder(prepared: PreparedModel) -> None:
    path = prepared.local_dir / "text_encoder" / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, **BIG_CLIP}))


def _tiny_safetensors(path: Path) -> None:
    """A valid safetensors file holding one 1-element tensor (~76 bytes)."""
    import torch
    from safetensors.torch import save_file

    save_file({"text_model.final_layer_norm.bias": torch.zeros(1)}, str(path))


@pytest.fixture
def never_instantiate(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("a component was instantiated before the model was sized")

    monkeypatch.setattr(load_stage, "from_snapshot", refuse)


def test_config_larger_than_its_weights_is_refused_before_loading(
    zoo_dir: Path, zoo_catalog: list, tmp_path: Path, never_instantiate: None
) -> None:
    import torch

    prepared = local_prepared(zoo_dir, zoo_catalog, tmp_path)
    _grow_text_encoder(prepared)
    with pytest.raises(IncompleteWeightsError) as err:
        load_pipeline(prepared, device="cpu", dtype=torch.float32)
    msg = str(err.value)
    assert "'text_encoder'" in msg and "CLIPTextModel" in msg and "of another shape" in msg
    assert "random values" in msg


def test_weights_file_missing_most_tensors_is_refused(
    zoo_dir: Path, zoo_catalog: list, tmp_path: Path, never_instantiate: None
) -> None:
    import torch

    prepared = local_prepared(zoo_dir, zoo_catalog, tmp_path)
    weights = prepared.local_dir / "text_encoder" / "model.safetensors"
    _tiny_safetensors(weights)
    assert weights.stat().st_size < 200 and len(safetensors_index(weights)) == 1
    with pytest.raises(IncompleteWeightsError, match=r"'text_encoder'.*missing"):
        load_pipeline(prepared, device="cpu", dtype=torch.float32)


def test_one_missing_tensor_is_enough_to_refuse(zoo_dir: Path, zoo_catalog: list,
                                                 tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    prepared = local_prepared(zoo_dir, zoo_catalog, tmp_path)
    weights = prepared.local_dir / "vae" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(str(weights))
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    save_file(tensors, str(weights))
    with pytest.raises(IncompleteWeightsError, match=r"'vae'.*1 of \d+ missing") as err:
        check_model_fits(prepared, device="cpu", dtype=torch.float32, max_model_bytes=None)
    assert dropped in str(err.value)


@pytest.mark.parametrize("header", [b"\xff" * 8, b"\x10\x00\x00\x00\x00\x00\x00\x00{bad"])
def test_a_broken_safetensors_header_is_refused_by_name(tmp_path: Path, header: bytes) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(header)
    with pytest.raises(IncompleteWeightsError, match="model.safetensors"):
        safetensors_index(path)


def test_a_truncated_safetensors_upload_is_refused_before_loading(tmp_path: Path) -> None:
    """An interrupted upload keeps a valid header but loses tensor bytes (the zoo's
    pixart-broken-upload): refused from the header, as `IncompleteWeightsError` (a refusal),
    not left to fail inside diffusers as an OSError."""
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(64, 64)}, str(path))
    assert safetensors_index(path) == {"w": (64, 64)}  # an intact file passes
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IncompleteWeightsError, match=r"model.safetensors: truncated.*16384"):
        safetensors_index(path)
    path.write_bytes(data + b"x" * 10)  # bytes past the last tensor: not what was uploaded
    with pytest.raises(IncompleteWeightsError, match="holds 16394"):
        safetensors_index(path)


def test_budget_refuses_a_model_whose_parameters_do_not_fit(
    zoo_dir: Path, zoo_catalog: list, tmp_path: Path, never_instantiate: None
) -> None:
    import torch

    prepared = local_prepared(zoo_dir, zoo_catalog, tmp_path)
    sizes = check_model_fits(prepared, device="cpu", dtype=torch.float32, max_model_bytes=None)
    assert {s.name for s in sizes} == {"text_encoder", "unet", "vae"}
    needed = sum(s.parameters for s in sizes) * 4
    assert check_model_fits(prepared, device="cpu", dtype=torch.float32, max_model_bytes=needed)
    with pytest.raises(ResourceLimitError, match="over the memory budget") as err:
        load_pipeline(prepared, device="cpu", dtype=torch.float32,
                              max_model_bytes=needed - 1)
    assert "max_model_bytes" in str(err.value) and "text_encoder" in str(err.value)
    # half precision halves the bytes: the same budget then fits
    check_model_fits(prepared, device="cpu", dtype=torch.float16, max_model_bytes=needed // 2)


def test_default_budget_is_a_share_of_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    budget, source = memory_budget("cpu", None)
    assert budget == int(machine_memory_bytes() * CPU_BUDGET_FRACTION)
    assert "machine memory" in source
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="max_model_bytes"):
            memory_budget("cpu", bad)  # type: ignore[arg-type]


def test_lora_adapter_parameters_count_toward_the_budget(zoo_dir: Path, zoo_catalog: list
                                                         ) -> None:
    from safetensors.torch import load_file

    from fakeimg_assets.sampling.components import adapter_parameters

    lora = pick(zoo_catalog, expect="ok", architecture="sd1", reason="lora")
    (adapter,) = (zoo_dir / lora.model_id).glob("*.safetensors")
    assert adapter_parameters(adapter) == sum(t.numel() for t in load_file(adapter).values()) > 0


@pytest.mark.slow
def test_an_uncovered_repo_is_a_permanent_load_failure_row(
    zoo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the Hub and the assets: planned and downloaded, refused at load, recorded."""
    from fakeimg_assets.definitions import build_definitions
    from fakeimg_assets.platform_run import RunOptions, run_platform
    from fakeimg_assets.testbed.local_hub.server import HubServer
    from fakeimg_assets.warehouse.store import Warehouse
    from resources import ComputeResource

    root = tmp_path / "hub"
    repo = root / "bigenc" / "tiny-weights"
    shutil.copytree(zoo_dir / "pixelsmith" / "dreamscape-v1", repo)
    config = repo / "text_encoder" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), **BIG_CLIP}))
    for weights in (repo / "text_encoder").glob("*.safetensors"):
        _tiny_safetensors(weights)
    home = tmp_path / "home"
    monkeypatch.setenv("FAKEIMG_HOME", str(home))
    with HubServer(root) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        defs = build_definitions(home=str(home), endpoint=server.url,
                                 compute=ComputeResource(device="cpu", batch_size=2))
        report = run_platform(RunOptions(images_per_model=2, steps=2, detector=False),
                              home=home, defs=defs, log=lambda _line: None)
    assert report.sampled == [] and report.failed == {}, report  # a refusal, not a failure
    assert list(report.refused) == ["bigenc/tiny-weights"], report
    assert "sampled_images refused at stage 'load': IncompleteWeightsError" in report.refused[
        "bigenc/tiny-weights"]
    (row,) = Warehouse(home).read("model_failures").to_dicts()
    assert row["asset"] == "sampled_images" and row["stage"] == "load", row
    assert row["error_type"] == "IncompleteWeightsError" and row["transient"] is False, row
    assert row["refused"] is True, row
    assert "'text_encoder'" in row["message"] and "missing" in row["message"], row
