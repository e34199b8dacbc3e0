"""`fakeimg run` refuses bad arguments before any work (issue 21): exit status 2, a message
naming the argument, the bad value and what is allowed; no crawl request reaches the Hub
and no Dagster run (no instance at all) is created under $FAKEIMG_HOME. Python callers of
`run_platform` get the same checks as `OptionError` (a ValueError naming the field), and a
pretrained backbone's weights are checked on the endpoint (or as a local file) before the
crawl.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakeimg_assets.cli import main
from fakeimg_assets.lib.arg_checks import OptionError
from fakeimg_assets.platform_run import RunOptions, run_platform
from fakeimg_assets.testbed.local_hub.server import HubServer

CF = "community-forensics-vit-s384"
CF_REPO = "timm/vit_small_patch16_384.augreg_in21k_ft_in1k"


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An empty mirror (no models, no timm weights) on loopback, as $HF_ENDPOINT, and an
    empty $FAKEIMG_HOME."""
    root = tmp_path / "mirror"
    root.mkdir()
    home = tmp_path / "home"
    monkeypatch.setenv("FAKEIMG_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster-home-unused"))
    with HubServer(root) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server, home


def run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own refusals
        return int(exc.code)


def assert_no_work(server: HubServer, home: Path) -> None:
    paths = [r.path for r in server.requests]
    assert not [p for p in paths if p.startswith("/api/models?") or p == "/api/models"], paths
    assert not (home / "dagster").exists()  # no instance, so no Dagster run
    assert not (home / "warehouse.duckdb").exists() and not (home / "images").exists()


@pytest.mark.parametrize(
    ("argv", "argument", "allowed"),
    [
        (["--images-per-model", "0"], "--images-per-model", "must be an integer >= 1, got '0'"),
        (["--limit", "-1"], "--limit", "must be an integer >= 1"),
        (["--backbone", "nope"], "--backbone", f"choose one of: {CF}, resnet50, tiny-resnet"),
        (["--steps", "0"], "--steps", "must be an integer >= 1, got '0'"),
        (["--epochs", "0"], "--epochs", "must be an integer >= 1"),
        (["--batch-size", "0"], "--batch-size", "must be an integer >= 1"),
        (["--crawl-limit", "-3"], "--crawl-limit", "must be an integer >= 0"),
        (["--crops-per-photo", "x"], "--crops-per-photo", "must be an integer >= 0, got 'x'"),
        (["--family-max-runs", "-1"], "--family-max-runs", "must be an integer >= 0"),
        (["--device", "gpu"], "--device", "must be one of auto, cpu, cuda, cuda:K"),
        (["--post", "jpeg:0-101"], "--post", "jpeg:LO-HI needs 1 <= LO <= HI <= 100"),
        (["--real-folder", "/no/such/folder"], "--real-folder", "no such folder"),
        (["--real-dataset", "a/../b"], "--real-dataset", "expected 'org/name'"),
        (["--backbone-weights", "/no/such.safetensors"], "--backbone-weights", "no such file"),
    ],
)
def test_a_bad_argument_is_refused_before_any_work(
    hub, capsys: pytest.CaptureFixture, argv: list[str], argument: str, allowed: str
) -> None:
    server, home = hub
    assert run_cli(["run", *argv]) == 2
    err = capsys.readouterr().err
    assert f"argument {argument}: " in err and allowed in err, err
    assert_no_work(server, home)


def test_cuda_on_a_machine_without_it_is_refused_saying_what_it_has(
    hub, capsys: pytest.CaptureFixture
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the refusal needs a machine without it")
    server, home = hub
    for device in ("cuda", "cuda:1"):
        assert run_cli(["run", "--device", device]) == 2
        err = capsys.readouterr().err
        assert f"argument --device: {device!r} asked for, but this machine has no CUDA" in err
        assert "use one of: auto, cpu" in err
    assert_no_work(server, home)


def test_a_device_is_refused_by_what_the_machine_has() -> None:
    """The rule `check_device_available` applies to this machine's torch answers, on the
    machines this one is not (no GPU here)."""
    from fakeimg_assets.lib.arg_checks import device_problem

    assert device_problem("cuda:3", 1, False) == (
        "'cuda:3' asked for, but this machine has 1 CUDA device (cuda:0); use one of: "
        "auto, cpu, cuda, cuda:0")
    assert "has 2 CUDA devices (cuda:0..cuda:1)" in device_problem("cuda:2", 2, False)
    assert device_problem("cuda:1", 2, False) is None and device_problem("cuda", 1, True) is None
    assert device_problem("mps", 0, False).endswith("has no MPS device; use one of: auto, cpu")
    assert device_problem("mps", 0, True) is None and device_problem("cpu", 0, False) is None


def test_a_pretrained_backbone_without_weights_on_the_mirror_is_refused_before_the_crawl(
    hub, capsys: pytest.CaptureFixture
) -> None:
    server, home = hub
    assert run_cli(["run", "--backbone", CF]) == 2
    err = capsys.readouterr().err
    assert "argument --backbone: " in err
    assert f"{CF_REPO}/model.safetensors" in err and server.url in err  # what, where
    assert "--backbone-weights PATH" in err and "tiny-resnet" in err  # the ways out
    assert_no_work(server, home)
    # only the metadata request of the weights' repo reached the mirror
    assert {r.path.split("?")[0] for r in server.requests} == {f"/api/models/{CF_REPO}"}


def test_python_callers_get_the_same_checks(hub) -> None:
    server, home = hub
    cases = {"images_per_model": 0, "limit": -1, "backbone": "nope", "steps": 0,
             "device": "tpu", "post": "blur:3", "real_dataset": "not an id"}
    for field, value in cases.items():
        with pytest.raises(OptionError) as caught:
            run_platform(RunOptions(**{field: value}), home=home, log=lambda _m: None)
        assert caught.value.field == field and str(caught.value).startswith(f"{field}: ")
        assert isinstance(caught.value, ValueError)
    with pytest.raises(ValueError, match="^backbone: backbone 'community-forensics-vit-s384' "
                       "starts from pretrained weights"):
        run_platform(RunOptions(backbone=CF), home=home, log=lambda _m: None)
    assert_no_work(server, home)


# ------------------------------------------------------- pretrained weights on the endpoint

NAME = "test-args-pretrained-resnet10t"
REPO = "timm/resnet10t.c3_in1k"


@pytest.fixture
def pretrained_backbone():
    from fakeimg_assets.detection.backbones import (
        BackboneSpec,
        register_backbone,
        unregister_backbone,
    )

    register_backbone(BackboneSpec(NAME, "resnet10t.c3_in1k", 32, True, 1e-3, 0.0, 4, 1,
                                   "a pretrained backbone for the argument checks"))
    yield NAME
    unregister_backbone(NAME)


def _weights(path: Path) -> Path:
    import timm
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(timm.create_model("resnet10t", num_classes=1000).state_dict(), str(path))
    return path


def test_weights_served_or_given_locally_pass_and_a_repo_without_them_is_named(
    pretrained_backbone: str, tmp_path: Path
) -> None:
    from fakeimg_assets.run_checks import check_pretrained_weights
    from resources import HubResource

    root = tmp_path / "mirror"
    repo = root / REPO
    repo.mkdir(parents=True)
    (repo / "config.json").write_text(json.dumps({"architecture": "resnet10t"}))
    with HubServer(root) as server:
        hub = HubResource(endpoint=server.url, cache_dir=str(tmp_path / "cache"))
        with pytest.raises(OptionError, match=f"{REPO}/model.safetensors, which are not "
                           f"reachable at {server.url} .*has no model.safetensors"):
            check_pretrained_weights(pretrained_backbone, hub)
        _weights(repo / "model.safetensors")
        line = check_pretrained_weights(pretrained_backbone, hub)
        assert f"{REPO}/model.safetensors (" in line and server.url in line
        assert not (tmp_path / "cache").exists()  # checked by metadata, nothing downloaded
        n = len(server.requests)
        local = _weights(tmp_path / "local" / "w.safetensors")
        assert str(local) in check_pretrained_weights(pretrained_backbone, hub, str(local))
        assert len(server.requests) == n  # a local file: the endpoint is not asked


def test_backbone_weights_must_be_a_readable_safetensors_file(tmp_path: Path) -> None:
    from fakeimg_assets.lib.arg_checks import check_safetensors_file

    pickle = tmp_path / "w.bin"
    pickle.write_bytes(b"\x80\x04not safetensors")
    torn = tmp_path / "torn.safetensors"
    torn.write_bytes((10**6).to_bytes(8, "little") + b"{}")
    empty = tmp_path / "empty.safetensors"
    header = json.dumps({"__metadata__": {}}).encode()
    empty.write_bytes(len(header).to_bytes(8, "little") + header)
    for path, why in [(pickle, "not a .safetensors file"), (torn, "no readable safetensors"),
                      (empty, "no readable safetensors"), (tmp_path, "is not a file")]:
        with pytest.raises(ValueError, match=why):
            check_safetensors_file(str(path))


def test_local_weights_are_used_instead_of_a_download(
    pretrained_backbone: str, tmp_path: Path
) -> None:
    """`--backbone-weights` reaches training: the hub resource hands the local file to timm."""
    import torch

    from fakeimg_assets.detection.backbones import create_detector, pretrained_source
    from resources import HubResource

    local = _weights(tmp_path / "w.safetensors")
    hub = HubResource(endpoint="http://127.0.0.1:9", local_weights={REPO: str(local)})
    path = hub.pretrained_weights(*pretrained_source(pretrained_backbone))
    assert path == local
    from safetensors.torch import load_file

    model = create_detector(pretrained_backbone, weights_file=str(path))
    assert torch.equal(model.conv1[0].weight, load_file(str(local))["conv1.0.weight"])


# ------------------------------------------------------------ the other sub-commands


@pytest.mark.parametrize(
    ("argv", "argument", "allowed"),
    [
        (["zoo", "build", "d", "--extra-size", "20"], "--extra-size",
         "from 16 to 512, a multiple of 8 (or 0: off)"),
        (["world", "build", "d", "--generators", "0"], "--generators", ">= 1"),
        (["world", "build", "d", "--steps", "-1"], "--steps", ">= 1"),
        (["science", "--seeds", "0"], "--seeds", ">= 1"),
        (["hub", "serve", "d", "--port", "70000"], "--port", "from 0 to 65535"),
        (["hub", "serve", "d", "--request-timeout", "0"], "--request-timeout", "> 0"),
        (["chaos", "--images-per-model", "0"], "--images-per-model", ">= 1"),
        (["collection", "add", "x", "--role", "test"], "--role", "choose from 'train'"),
        (["regenerate", "fake:a/b:00001", "--out", "/no/such/dir/x.png"], "--out",
         "no such folder: '/no/such/dir'"),
    ],
)
def test_other_sub_commands_refuse_bad_values(
    capsys: pytest.CaptureFixture, argv: list[str], argument: str, allowed: str
) -> None:
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert f"argument {argument}: " in err and allowed in err, err


def test_a_run_config_from_the_ui_refuses_a_bad_value_naming_the_field(tmp_path: Path) -> None:
    """A UI launch goes through the same run config classes: pydantic bounds and validators
    fail the step before any work, naming the field."""
    import dagster as dg
    from pydantic import ValidationError

    from fakeimg_assets.definitions import build_definitions
    from fakeimg_assets.models.assets import SamplingConfig
    from fakeimg_assets.platform_run import failure_message

    with pytest.raises(ValidationError, match="images_per_model\n.*greater than or equal to 1"):
        SamplingConfig(images_per_model=0)
    assert SamplingConfig(post=None).post is None  # unset: the home's setting
    defs = build_definitions(home=str(tmp_path / "home"), endpoint="http://127.0.0.1:9")
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("train_detector").execute_in_process(
            run_config={"ops": {"detector": {"config": {"backbone": "nope", "epochs": 1}}}},
            asset_selection=[dg.AssetKey("detector")], instance=instance, raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert message.startswith("detector: ValidationError: 1 validation error for "
                              "DetectorConfig: backbone; Value error, unknown backbone 'nope'")
    assert "choose one of: community-forensics-vit-s384" in message
    assert not (tmp_path / "home" / "detectors").exists()
