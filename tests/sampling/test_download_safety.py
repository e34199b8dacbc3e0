"""Hostile repos against the real Hub client: exact names, verified bytes, allow-lists, limits.

Each test copies a healthy zoo repo into a tmp Hub root, alters it the way an attacker
would, serves it over loopback with `HubServer`, and plans/downloads through the very code
the assets run (`fetch_plan`, `HubResource.download`, `sampler`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from fakeimg_assets.hub_client.verified import fetch_verified, snapshot_files
from fakeimg_assets.lib.errors import DownloadVerificationError, ResourceLimitError
from fakeimg_assets.lib.paths import sha256_file
from fakeimg_assets.sampling.fetch import prepare, release_weights
from fakeimg_assets.sampling.load import load_pipeline
from fakeimg_assets.sampling.remote_plan import fetch_plan
from fakeimg_assets.sampling.types import SamplingError, UnsafeRepoError
from fakeimg_assets.testbed.local_hub.server import HubServer
from fakeimg_assets.testbed.zoo.models import NATIVE_PX
from resources import HubResource
from tests.helpers.zoo import pick

SD1 = "evil-org/sd-copy"
UNET_WEIGHTS = "unet/diffusion_pytorch_model.safetensors"


def _copy_sd1(zoo_dir: Path, zoo_catalog: list, root: Path) -> Path:
    src = pick(zoo_catalog, expect="ok", architecture="sd1").model_id
    dst = root / SD1
    shutil.copytree(zoo_dir / src, dst)
    return dst


@pytest.fixture
def evil_root(tmp_path: Path, zoo_dir: Path, zoo_catalog: list) -> Path:
    root = tmp_path / "hub"
    _copy_sd1(zoo_dir, zoo_catalog, root)
    return root


def _hub(server: HubServer, tmp_path: Path, **kw) -> HubResource:
    return HubResource(endpoint=server.url, cache_dir=str(tmp_path / "cache"), **kw)


def _cached(tmp_path: Path) -> list[str]:
    """Repo paths present in any cached snapshot (the blobs behind them are hash-named)."""
    cache = tmp_path / "cache"
    return sorted(
        {str(Path(*p.parts[p.parts.index("snapshots") + 2 :])) for p in cache.rglob("*")
         if "snapshots" in p.parts[:-2] and (p.is_file() or p.is_symlink())}
    )


def _edit_json(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data, indent=2))


@pytest.mark.slow
def test_every_healthy_zoo_model_still_plans(hub_url: str, tmp_path: Path, zoo_catalog) -> None:
    hub = HubResource(endpoint=hub_url, cache_dir=str(tmp_path / "cache"))
    for m in zoo_catalog:
        if m.expect == "ok":
            remote = fetch_plan(hub, m.model_id)
            assert remote.native_px == NATIVE_PX.get(m.architecture, 64), m.model_id
            assert all(f.sha256 for f in remote.plan.expected if f.path.endswith(".safetensors"))


def test_glob_named_files_refused_and_nothing_unplanned_fetched(
    evil_root: Path, tmp_path: Path
) -> None:
    repo = evil_root / SD1
    (repo / "unet" / "*").write_text("{}")
    (repo / "unet" / "evil.py").write_text("import os\n")
    (repo / "tokenizer" / "special[1].json").write_text("{}")
    with HubServer(evil_root) as server:
        with pytest.raises(UnsafeRepoError, match=r"planned file 'tokenizer/special\[1\].json'"):
            fetch_plan(_hub(server, tmp_path), SD1)
        (repo / "tokenizer" / "special[1].json").unlink()
        with pytest.raises(UnsafeRepoError, match=r"planned file 'unet/\*' refused: glob"):
            fetch_plan(_hub(server, tmp_path), SD1)
    assert _cached(tmp_path) == ["model_index.json"]  # no .bin, no .py, no weights


def test_nested_pipeline_component_refused_before_any_weight(
    evil_root: Path, tmp_path: Path
) -> None:
    repo = evil_root / SD1
    _edit_json(repo / "model_index.json", unet=["diffusers", "DiffusionPipeline"])
    for f in (repo / "unet").glob("*.safetensors"):
        f.unlink()  # only the pickle is left: what a nested pipeline would fall back to
    with HubServer(evil_root) as server, pytest.raises(UnsafeRepoError, match="nested pipeline"):
        fetch_plan(_hub(server, tmp_path), SD1)
    assert _cached(tmp_path) == ["model_index.json"]


def test_download_is_exact_and_verified(evil_root: Path, tmp_path: Path) -> None:
    with HubServer(evil_root) as server:
        hub = _hub(server, tmp_path)
        remote = fetch_plan(hub, SD1)
        prepared = prepare(SD1, remote.revision, remote.plan, hub.download)
    assert snapshot_files(prepared.local_dir) == set(remote.plan.files)
    for f in remote.plan.expected:
        local = prepared.local_dir / f.path
        assert local.stat().st_size == f.size
        if f.sha256:
            assert sha256_file(local) == f.sha256
    assert not [n for n in _cached(tmp_path) if n.endswith((".bin", ".ckpt", ".py"))]


def test_corrupt_cached_file_is_refetched_once(evil_root: Path, tmp_path: Path) -> None:
    with HubServer(evil_root) as server:
        hub = _hub(server, tmp_path)
        remote = fetch_plan(hub, SD1)
        local = hub.download(SD1, remote.revision, remote.plan.expected)
        blob = (local / UNET_WEIGHTS).resolve()
        data = bytearray(blob.read_bytes())
        data[-5] ^= 0xFF  # a bit flip on disk, same size: only a sha256 check notices
        blob.write_bytes(bytes(data))
        hub.download(SD1, remote.revision, remote.plan.expected)
    expected = next(f.sha256 for f in remote.plan.expected if f.path == UNET_WEIGHTS)
    assert sha256_file(local / UNET_WEIGHTS) == expected


def test_corrupt_served_file_fails_after_one_refetch(evil_root: Path, tmp_path: Path) -> None:
    served = evil_root / SD1 / UNET_WEIGHTS
    with HubServer(evil_root) as server:
        hub = _hub(server, tmp_path)
        remote = fetch_plan(hub, SD1)  # the listing's sha256 is of the good bytes
        st = served.stat()
        data = bytearray(served.read_bytes())
        data[-5] ^= 0xFF
        served.write_bytes(bytes(data))
        os.utime(served, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime
        calls: list[tuple[str, bool]] = []

        def fetch(path: str, force: bool) -> Path:
            calls.append((path, force))
            return hub.download_file(SD1, path, remote.revision, force=force)

        with pytest.raises(DownloadVerificationError) as err:
            fetch_verified(
                fetch, remote.plan.expected, what=SD1, revision=remote.revision,
                snapshot=hub.snapshot_dir(SD1, remote.revision),
            )
    want = next(f.sha256 for f in remote.plan.expected if f.path == UNET_WEIGHTS)
    msg = str(err.value)
    assert UNET_WEIGHTS in msg and f"expected {want}" in msg and "got " in msg
    assert calls.count((UNET_WEIGHTS, False)) == 1 and calls.count((UNET_WEIGHTS, True)) == 1
    assert not (hub.snapshot_dir(SD1, remote.revision) / UNET_WEIGHTS).exists()  # bad file gone


def test_unplanned_file_in_snapshot_fails_verification(evil_root: Path, tmp_path: Path) -> None:
    with HubServer(evil_root) as server:
        hub = _hub(server, tmp_path)
        remote = fetch_plan(hub, SD1)
        snap = hub.snapshot_dir(SD1, remote.revision)

        def greedy_fetch(path: str, force: bool) -> Path:  # what a glob download did
            out = hub.download_file(SD1, path, remote.revision, force=force)
            if path == UNET_WEIGHTS:
                hub.download_file(SD1, "unet/diffusion_pytorch_model.bin", remote.revision)
            return out

        with pytest.raises(DownloadVerificationError, match=r"unplanned files \['unet/.*\.bin'\]"):
            fetch_verified(
                greedy_fetch, remote.plan.expected, what=SD1, revision=remote.revision,
                snapshot=snap,
            )
        # a stale extra from an earlier plan is pruned before the next download
        hub.download(SD1, remote.revision, remote.plan.expected)
        assert snapshot_files(snap) == set(remote.plan.files)


def test_resolution_bomb_refused_before_weight_download(evil_root: Path, tmp_path: Path) -> None:
    _edit_json(evil_root / SD1 / "unet" / "config.json", sample_size=4096)
    with HubServer(evil_root) as server:
        with pytest.raises(ResourceLimitError, match=r"native resolution 32768x32768.*cap of 2048"):
            fetch_plan(_hub(server, tmp_path), SD1)
    assert not [n for n in _cached(tmp_path) if n.endswith(".safetensors")]


def test_insane_scheduler_config_refused(evil_root: Path, tmp_path: Path) -> None:
    _edit_json(evil_root / SD1 / "scheduler" / "scheduler_config.json", num_train_timesteps=10**9)
    with HubServer(evil_root) as server:
        with pytest.raises(ResourceLimitError, match="num_train_timesteps"):
            fetch_plan(_hub(server, tmp_path), SD1)


def test_oversized_json_refused_from_listing(evil_root: Path, tmp_path: Path) -> None:
    big = evil_root / SD1 / "unet" / "extra_config.json"
    big.write_bytes(b"[" + b"0," * (8 * 2**20 + 10) + b"0]")  # 16 MiB + a little
    with HubServer(evil_root) as server:
        with pytest.raises(ResourceLimitError, match=r"'unet/extra_config.json' is 16.00 MiB"):
            fetch_plan(_hub(server, tmp_path), SD1)
        with pytest.raises(ResourceLimitError, match="planned download"):
            fetch_plan(_hub(server, tmp_path, max_download_bytes=10_000), SD1)
    assert "unet/extra_config.json" not in _cached(tmp_path)


def test_weights_removed_after_release_and_hf_hub_cache_honoured(
    evil_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))  # set after import: read now
    with HubServer(evil_root) as server:
        hub = HubResource(endpoint=server.url)
        remote = fetch_plan(hub, SD1)
        prepared = prepare(SD1, remote.revision, remote.plan, hub.download)
    assert prepared.local_dir.is_relative_to(tmp_path / "cache")
    assert any(n.endswith(".safetensors") for n in _cached(tmp_path))
    freed = release_weights(prepared)
    assert freed >= sum(f.size for f in remote.plan.expected if f.path.endswith(".safetensors"))
    left = _cached(tmp_path)
    assert not [n for n in left if n.endswith(".safetensors")] and "model_index.json" in left


def test_pickle_only_weights_never_load_even_with_the_planner_bypassed(
    zoo_dir: Path, zoo_catalog: list, tmp_path: Path
) -> None:
    import torch

    from fakeimg_assets.sampling.load import from_snapshot, load_kwargs
    from fakeimg_assets.sampling.types import IncompleteWeightsError
    from tests.helpers.zoo import local_prepared

    prepared = local_prepared(zoo_dir, zoo_catalog, tmp_path)
    kwargs = load_kwargs(prepared)
    assert kwargs["use_safetensors"] is True and kwargs["local_files_only"] is True
    assert kwargs["trust_remote_code"] is False and kwargs["custom_pipeline"] is None
    for f in (prepared.local_dir / "unet").glob("*.safetensors"):
        f.unlink()  # the unet is now only a (valid) torch pickle
    assert (prepared.local_dir / "unet" / "diffusion_pytorch_model.bin").exists()
    with pytest.raises(IncompleteWeightsError, match=r"'unet'.*not on disk"):
        load_pipeline(prepared, device="cpu", dtype=torch.float32)  # sized first
    with pytest.raises(SamplingError, match=r"\[load\].*safetensors"):
        from_snapshot(prepared, device="cpu", dtype=torch.float32)  # the loader's own guard


def test_loading_runs_with_the_hub_offline(evil_root: Path, tmp_path: Path) -> None:
    from huggingface_hub import constants
    from huggingface_hub.errors import OfflineModeIsEnabled

    from fakeimg_assets.hub_client.offline import hub_offline

    with HubServer(evil_root) as server:
        hub = _hub(server, tmp_path)
        with hub_offline(), pytest.raises(OfflineModeIsEnabled):
            hub.model_info(SD1)
        assert not constants.HF_HUB_OFFLINE  # restored
        assert hub.model_info(SD1).sha
