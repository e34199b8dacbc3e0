"""The local Hub server against the real huggingface_hub client, on loopback, no mocks.

Every client call passes ``endpoint=``/``cache_dir=`` explicitly: huggingface_hub reads
``HF_ENDPOINT`` at import time, and its disk cache must stay inside tmp_path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import urllib.error
import urllib.request
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
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder

from fakeimg_assets.hub.server import HubServer

TEXT_TO_IMAGE = {"filter": "diffusers", "pipeline_tag": "text-to-image"}
# (repo id, created_at, downloads, likes): the text-to-image diffusers repos of the fixture.
T2I = [
    ("acme/sd-a", "2024-01-01T00:00:00Z", 40, 1),
    ("acme/sd-b", "2024-03-01T12:00:00.123Z", 10, 7),
    ("acme/sd-c", "2024-02-01T00:00:00+00:00", 30, 3),
    ("beta/sd-d.v1_x-2", "2024-04-01T00:00:00Z", 20, 5),
    ("lock/gated-sd", "2023-12-01T00:00:00Z", 0, 0),
]


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _weights(seed: str, size: int) -> bytes:
    """Arbitrary deterministic bytes standing in for safetensors weights."""
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}{counter}".encode()).digest()
        counter += 1
    return out[:size]


def make_repo(
    root: Path,
    repo_id: str,
    *,
    hub: dict | None = None,
    card: str | None = "license: mit\nlibrary_name: diffusers\npipeline_tag: text-to-image\n",
    model_index: bool = True,
) -> Path:
    """A small diffusers-style repo: model_index, unet/vae/text_encoder, fp16 variant, card."""
    repo = root / repo_id
    (repo / "unet").mkdir(parents=True)
    (repo / "vae").mkdir()
    (repo / "text_encoder").mkdir()
    if model_index:
        (repo / "model_index.json").write_text(
            json.dumps({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "X"]})
        )
    if card is not None:
        (repo / "README.md").write_text(f"---\n{card}tags:\n- tiny\n---\n# {repo_id}\n")
    (repo / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    (repo / "unet" / "config.json").write_text('{"sample_size": 8}')
    (repo / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(_weights(repo_id, 5000))
    (repo / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(
        _weights(repo_id + "16", 2500)
    )
    (repo / "vae" / "config.json").write_text('{"latent_channels": 4}')
    (repo / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(_weights(repo_id + "v", 700))
    (repo / "text_encoder" / "config.json").write_text("{}")
    if hub is not None:
        (repo / ".hub.json").write_text(json.dumps(hub))
    return repo


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("hub")
    for repo_id, created, downloads, likes in T2I:
        meta = {"created_at": created, "downloads": downloads, "likes": likes}
        if repo_id.startswith("lock/"):
            meta["gated"] = "manual"
        make_repo(base, repo_id, hub=meta)
    make_repo(
        base,
        "acme/img2img",
        hub={"created_at": "2025-01-01T00:00:00Z", "pipeline_tag": "image-to-image"},
    )
    make_repo(
        base,
        "other/clip-thing",
        hub={"library_name": "transformers", "pipeline_tag": "feature-extraction"},
        model_index=False,
    )
    make_repo(base, "plain/no-meta", card=None)  # defaults only: no .hub.json, no card
    (base / "zoo.json").write_text("{}")  # top-level files are not repos
    (base / "secret.txt").write_text("top secret")
    return base


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[HubServer]:
    with HubServer(root, page_size=2, tokens={"hf_test"}) as hub:
        yield hub


@pytest.fixture
def api(server: HubServer) -> HfApi:
    return HfApi(endpoint=server.url, token=False)


def raw(
    url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP request (no proxies), for what the client hides: headers, ranges."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with opener.open(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


# --------------------------------------------------------------------------- listing


def test_list_models_sorted_and_paginated(api: HfApi, server: HubServer) -> None:
    by_created = [m for m in api.list_models(**TEXT_TO_IMAGE, sort="created_at")]
    assert [m.id for m in by_created] == [
        "beta/sd-d.v1_x-2",
        "acme/sd-b",
        "acme/sd-c",
        "acme/sd-a",
        "lock/gated-sd",
    ]  # 5 models over 3 pages of 2
    first = by_created[1]
    assert first.created_at is not None and first.created_at.isoformat().startswith(
        "2024-03-01T12:00:00.123"
    )
    assert first.sha and len(first.sha) == 40
    assert first.author == "acme" and first.downloads == 10 and first.likes == 7
    assert first.library_name == "diffusers" and first.pipeline_tag == "text-to-image"
    assert {"diffusers", "tiny", "text-to-image", "safetensors", "license:mit"} <= set(first.tags)
    assert "diffusers:StableDiffusionPipeline" in first.tags
    assert ".hub.json" not in {s.rfilename for s in first.siblings or []}

    downloads = [m.id for m in api.list_models(**TEXT_TO_IMAGE, sort="downloads")]
    assert downloads[:4] == ["acme/sd-a", "acme/sd-c", "beta/sd-d.v1_x-2", "acme/sd-b"]
    likes = [m.id for m in api.list_models(**TEXT_TO_IMAGE, sort="likes", limit=3)]
    assert likes == ["acme/sd-b", "beta/sd-d.v1_x-2", "acme/sd-c"]

    # The wire format: page of 2, Link header with a cursor, the client's camelCase sort name.
    status, headers, body = raw(
        f"{server.url}/api/models?filter=diffusers&pipeline_tag=text-to-image&sort=createdAt"
    )
    assert status == 200 and len(json.loads(body)) == 2
    link = headers["Link"]
    assert link.startswith(f"<{server.url}/api/models?") and link.endswith('>; rel="next"')
    assert "cursor=" in link and "sort=createdAt" in link
    ascending = raw(
        f"{server.url}/api/models?filter=diffusers&pipeline_tag=text-to-image"
        "&sort=createdAt&direction=1&limit=1"
    )
    assert [m["id"] for m in json.loads(ascending[2])] == ["lock/gated-sd"]
    assert raw(f"{server.url}/api/models?sort=bogus")[0] == 400


def test_list_models_filters(api: HfApi) -> None:
    assert [m.id for m in api.list_models(author="other")] == ["other/clip-thing"]
    assert [m.id for m in api.list_models(search="SD-B")] == ["acme/sd-b"]
    assert [m.id for m in api.list_models(filter="transformers")] == ["other/clip-thing"]
    assert [m.id for m in api.list_models(filter=["diffusers", "license:mit"], search="img2")] == [
        "acme/img2img"
    ]
    everything = [m.id for m in api.list_models()]
    assert len(everything) == 8 and "plain/no-meta" in everything
    defaults = api.model_info("plain/no-meta")
    assert defaults.author == "plain" and defaults.library_name == "diffusers"  # model_index
    assert defaults.pipeline_tag is None and defaults.gated is False
    assert defaults.created_at is not None and defaults.last_modified is not None


# --------------------------------------------------------------------------- repo info and tree


def test_model_info_files_metadata(api: HfApi, root: Path) -> None:
    info = api.model_info("beta/sd-d.v1_x-2", files_metadata=True)
    assert info.id == "beta/sd-d.v1_x-2" and info.sha and len(info.sha) == 40
    assert info.card_data is not None and info.card_data.license == "mit"
    repo = root / "beta" / "sd-d.v1_x-2"
    on_disk = sorted(
        p.relative_to(repo).as_posix()
        for p in repo.rglob("*")
        if p.is_file() and p.name != ".hub.json"
    )
    assert sorted(s.rfilename for s in info.siblings or []) == on_disk
    for sibling in info.siblings or []:
        data = (repo / sibling.rfilename).read_bytes()
        assert sibling.size == len(data)
        if sibling.rfilename.endswith(".safetensors"):
            assert sibling.lfs is not None
            assert sibling.lfs.sha256 == hashlib.sha256(data).hexdigest()
            assert sibling.lfs.size == len(data) and sibling.lfs.pointer_size > 100
        else:
            assert sibling.lfs is None and sibling.blob_id == _git_sha1(data)
    assert info.used_storage == sum((repo / f).stat().st_size for f in on_disk)

    again = api.model_info("beta/sd-d.v1_x-2", revision=info.sha)
    assert again.sha == info.sha
    assert api.model_info("acme/sd-a").sha != info.sha  # content-addressed


def test_errors(api: HfApi, server: HubServer, tmp_path: Path) -> None:
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("nobody/nothing")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("gpt2")  # no namespace
    with pytest.raises(RevisionNotFoundError):
        api.model_info("acme/sd-a", revision="v2.0")
    with pytest.raises(RevisionNotFoundError):
        api.model_info("acme/sd-a", revision="0" * 40)
    with pytest.raises(RemoteEntryNotFoundError) as missing:
        hf_hub_download(
            "acme/sd-a", "unet/nope.bin", cache_dir=tmp_path, endpoint=server.url, token=False
        )
    assert isinstance(missing.value, EntryNotFoundError)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(
            "acme/sd-a", "README.md", revision="dev", cache_dir=tmp_path, endpoint=server.url
        )
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree("acme/sd-a", path_in_repo="nope"))
    for path in ("/api/models/a/b/c", "/api/models/acme", "/api/models/acme/sd-a/nope"):
        status, headers, body = raw(server.url + path)
        assert (status, headers.get("X-Error-Code")) == (404, "RepoNotFound"), path
        assert "error" in json.loads(body)


def test_list_repo_tree(api: HfApi) -> None:
    entries = list(api.list_repo_tree("acme/sd-c", recursive=True))
    folders = {e.path for e in entries if isinstance(e, RepoFolder)}
    files = {e.path: e for e in entries if isinstance(e, RepoFile)}
    assert folders == {"unet", "vae", "text_encoder"}
    assert ".hub.json" not in files and "README.md" in files and ".gitattributes" in files
    weights = files["unet/diffusion_pytorch_model.safetensors"]
    assert weights.size == 5000 and weights.lfs is not None
    assert weights.lfs.sha256 == hashlib.sha256(_weights("acme/sd-c", 5000)).hexdigest()
    top = {e.path for e in api.list_repo_tree("acme/sd-c")}
    assert "unet" in top and "unet/config.json" not in top
    unet = {e.path for e in api.list_repo_tree("acme/sd-c", path_in_repo="unet")}
    assert unet == {
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
    }
    assert set(api.list_repo_files("acme/sd-c")) == set(files)


def test_tree_pagination(root: Path) -> None:
    with HubServer(root, tree_page_size=3) as hub:
        api = HfApi(endpoint=hub.url, token=False)
        paths = [e.path for e in api.list_repo_tree("acme/sd-a", recursive=True)]
    assert len(paths) == len(set(paths)) == 12 and paths == sorted(paths)


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
    assert readme.etag == _git_sha1((repo / "README.md").read_bytes())  # git blob sha1


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
    """``python -m fakeimg_assets.hub.server`` entry point exists and refuses a bad root."""
    from fakeimg_assets.hub.server import main

    assert main([os.devnull + "-missing-root"]) == 2
