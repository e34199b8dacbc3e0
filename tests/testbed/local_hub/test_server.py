"""The local Hub server's listing and metadata routes against the real huggingface_hub client.

Every client call passes ``endpoint=``/``cache_dir=`` explicitly: huggingface_hub reads
``HF_ENDPOINT`` at import time, and its disk cache must stay inside tmp_path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder

from fakeimg_assets.testbed.local_hub.server import HubServer
from tests.helpers.hub_repos import TEXT_TO_IMAGE, build_root, fake_weights, git_sha1, raw


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_root(tmp_path_factory.mktemp("hub"))


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[HubServer]:
    with HubServer(root, page_size=2, tokens={"hf_test"}) as hub:
        yield hub


@pytest.fixture
def api(server: HubServer) -> HfApi:
    return HfApi(endpoint=server.url, token=False)


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
            assert sibling.lfs is None and sibling.blob_id == git_sha1(data)
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
    assert weights.lfs.sha256 == hashlib.sha256(fake_weights("acme/sd-c", 5000)).hexdigest()
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
