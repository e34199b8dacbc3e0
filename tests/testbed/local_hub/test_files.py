"""The local Hub server's file routes, gating, path safety, live changes and legacy faults.

Every client call passes ``endpoint=``/``cache_dir=`` explicitly: huggingface_hub reads
``HF_ENDPOINT`` at import time, and its disk cache must stay inside tmp_path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import (
    HfApi,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
    snapshot_download,
)
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

from fakeimg_assets.testbed.local_hub.server import HubServer
from tests.helpers.hub_repos import build_root, git_sha1, make_repo, raw


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_root(tmp_path_factory.mktemp("hub"))


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[HubServer]:
    with HubServer(root, page_size=2, tokens={"hf_test"}) as hub:
        yield hub


# --------------------------------------------------------------------------- downloads


def test_hf_hub_download_and_metadata(server: HubServer, root: Path, tmp_path: Path) -> None:
    repo = root / "acme" / "sd-a"
    for name in ("unet/diffusion_pytorch_model.safetensors", "model_index.json"):
        local = hf_hub_download(
            "acme/sd-a", name, cache_dir=tmp_path, endpoint=server.url, token=False
        )
        assert Path(local).read_bytes() == (repo / name).read_bytes()
        assert str(tmp_path) in local

    data = (repo / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    url = hf_hub_url("acme/sd-a", "unet/diffusion_pytorch_model.safetensors", endpoint=server.url)
    meta = get_hf_file_metadata(url, token=False)
    sha = HfApi(endpoint=server.url).model_info("acme/sd-a").sha
    assert meta.commit_hash == sha and meta.size == len(data)
    assert meta.etag == hashlib.sha256(data).hexdigest()  # LFS: sha256
    readme = get_hf_file_metadata(hf_hub_url("acme/sd-a", "README.md", endpoint=server.url))
    assert readme.etag == git_sha1((repo / "README.md").read_bytes())  # git blob sha1


def test_snapshot_download_allow_patterns(server: HubServer, root: Path, tmp_path: Path) -> None:
    folder = Path(
        snapshot_download(
            "acme/sd-b",
            allow_patterns=["*.json", "unet/diffusion_pytorch_model.safetensors"],
            cache_dir=tmp_path,
            endpoint=server.url,
            token=False,
        )
    )
    got = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert got == [
        "model_index.json",
        "text_encoder/config.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json",
    ]
    for name in got:
        assert (folder / name).read_bytes() == (root / "acme" / "sd-b" / name).read_bytes()
    assert folder.is_relative_to(tmp_path)


def test_range_requests(server: HubServer, root: Path) -> None:
    data = (root / "acme/sd-a/unet/diffusion_pytorch_model.safetensors").read_bytes()
    url = f"{server.url}/acme/sd-a/resolve/main/unet/diffusion_pytorch_model.safetensors"
    status, headers, body = raw(url, {"Range": "bytes=10-19"})
    assert (status, body) == (206, data[10:20])
    assert headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert headers["Content-Length"] == "10"
    assert raw(url, {"Range": "bytes=4990-"})[2] == data[4990:]
    assert raw(url, {"Range": "bytes=-7"})[2] == data[-7:]
    assert raw(url, {"Range": f"bytes={len(data)}-"})[0] == 416
    status, headers, body = raw(url, method="HEAD")
    assert status == 200 and body == b"" and headers["Content-Length"] == str(len(data))
    assert headers["Accept-Ranges"] == "bytes" and len(headers["X-Repo-Commit"]) == 40
    assert headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'


# --------------------------------------------------------------------------- gating and safety


def test_gated_repo(server: HubServer, tmp_path: Path) -> None:
    anonymous = HfApi(endpoint=server.url, token=False)
    assert anonymous.model_info("lock/gated-sd").gated == "manual"  # info stays public
    with pytest.raises(GatedRepoError):
        hf_hub_download(
            "lock/gated-sd", "README.md", cache_dir=tmp_path, endpoint=server.url, token=False
        )
    with pytest.raises(GatedRepoError):
        list(anonymous.list_repo_tree("lock/gated-sd"))
    status, headers, _ = raw(f"{server.url}/lock/gated-sd/resolve/main/README.md", method="HEAD")
    assert (status, headers["X-Error-Code"]) == (401, "GatedRepo")
    assert "restricted" in headers["X-Error-Message"]

    with pytest.raises(GatedRepoError, match="not in the authorized list"):
        hf_hub_download(
            "lock/gated-sd", "README.md", cache_dir=tmp_path, endpoint=server.url, token="hf_bad"
        )
    status, headers, _ = raw(
        f"{server.url}/lock/gated-sd/resolve/main/README.md",
        {"Authorization": "Bearer hf_test_but_longer"},
    )
    assert (status, headers["X-Error-Code"]) == (403, "GatedRepo")  # a prefix match is no match

    local = hf_hub_download(
        "lock/gated-sd", "README.md", cache_dir=tmp_path, endpoint=server.url, token="hf_test"
    )
    assert Path(local).read_text().startswith("---")


def test_gated_repo_without_tokens_is_always_refused(root: Path, tmp_path: Path) -> None:
    with HubServer(root) as hub:  # no tokens configured: nothing unlocks a gated repo
        for token in (False, "hf_test", "anything"):
            with pytest.raises(GatedRepoError):
                hf_hub_download(
                    "lock/gated-sd", "README.md", cache_dir=tmp_path, endpoint=hub.url, token=token
                )
        assert HfApi(endpoint=hub.url, token=False).model_info("lock/gated-sd").gated == "manual"


def test_path_traversal_refused(server: HubServer, root: Path) -> None:
    repo = root / "acme" / "sd-a"
    outside = repo / "unet" / "leak.txt"
    outside.symlink_to(root / "secret.txt")
    inside = repo / "alias.json"
    inside.symlink_to(repo / "model_index.json")
    try:
        base = f"{server.url}/acme/sd-a/resolve/main"
        for path in ("..%2F..%2Fsecret.txt", "unet/..%2F..%2F..%2Fsecret.txt", "%2Fetc%2Fpasswd"):
            status, _, body = raw(f"{base}/{path}")
            assert status in (400, 404) and b"top secret" not in body, path
        status, headers, _ = raw(f"{base}/unet/leak.txt")
        assert (status, headers["X-Error-Code"]) == (404, "EntryNotFound")
        assert raw(f"{base}/.hub.json")[0] == 404  # Hub metadata is not repo content
        assert raw(f"{server.url}/api/models/..%2F../secret.txt")[0] == 404
        status, _, body = raw(f"{base}/alias.json")  # symlinks inside the repo are fine
        assert status == 200 and body == (repo / "model_index.json").read_bytes()
    finally:
        outside.unlink()
        inside.unlink()


def test_server_arguments(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):
        with pytest.raises(ValueError, match=host):
            HubServer(tmp_path, host=host)
    missing = tmp_path / "no-such-root"
    with pytest.raises(FileNotFoundError, match="no-such-root"):
        HubServer(missing)


# --------------------------------------------------------------------------- live changes, faults


def test_repo_copied_in_after_start_is_listed(root: Path, tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    make_repo(live, "acme/first")
    with HubServer(live) as hub:
        api = HfApi(endpoint=hub.url, token=False)
        assert [m.id for m in api.list_models()] == ["acme/first"]
        shutil.copytree(root / "acme" / "sd-c", live / "acme" / "late-arrival")
        assert [m.id for m in api.list_models()] == ["acme/first", "acme/late-arrival"]
        info = api.model_info("acme/late-arrival", files_metadata=True)
        assert info.downloads == 30  # .hub.json came along
        (live / "acme" / "late-arrival" / "extra.txt").write_text("new file")
        assert api.model_info("acme/late-arrival").sha != info.sha
        url = hub.url
    with pytest.raises(OSError):  # stopped: nothing answers, not even kept-alive sockets
        raw(f"{url}/api/models")


def test_fault_injection(tmp_path: Path) -> None:
    live = tmp_path / "faults"
    live.mkdir()
    make_repo(live, "flaky/repo", hub={"fail_first_n_requests": 1})
    with HubServer(live, fail_every=None, retry_after_s=0) as hub:
        status, headers, _ = raw(f"{hub.url}/api/models/flaky/repo")
        assert status == 429 and headers["Retry-After"] == "0" and "RateLimit" in headers
        assert raw(f"{hub.url}/api/models/flaky/repo")[0] == 200
    make_repo(live, "flaky/download", hub={"fail_first_n_requests": 1})
    with HubServer(live, retry_after_s=0) as hub:
        # The client's first HEAD gets a 429 and its retry succeeds.
        local = hf_hub_download(
            "flaky/download", "README.md", cache_dir=tmp_path / "c", endpoint=hub.url
        )
        assert Path(local).read_bytes() == (live / "flaky/download/README.md").read_bytes()
    with HubServer(live, fail_every=2) as hub:
        codes = [raw(f"{hub.url}/api/models")[0] for _ in range(4)]
        assert codes == [200, 429, 200, 429]
        assert raw(f"{hub.url}/api/models")[0] == 200
        with pytest.raises(HfHubHTTPError):
            HfApi(endpoint=hub.url).model_info("flaky/download")  # no retry in model_info


def test_cli_module_is_importable() -> None:
    """``python -m fakeimg_assets.testbed.local_hub.server`` entry point exists and refuses a bad root."""
    from fakeimg_assets.testbed.local_hub.server import main

    assert main([os.devnull + "-missing-root"]) == 2
