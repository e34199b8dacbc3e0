"""A Hub dataset repo as a collection source, over the local Hub server on loopback through
the platform's verified client: a folder-layout repo and a CF-Parquet repo, the commit as
`source_revision`, unsafe names never requested, hostile ids refused naming them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fakeimg_assets.collections.manifest import collection_dir
from fakeimg_assets.collections.stage import stage_collection
from tests.collections.sources import cf_rows, tiny, write_cf_parquet, write_folder_source


def _quiet(_line: str) -> None:
    pass


def _hub(server_url: str, cache: Path):
    from resources import HubResource

    return HubResource(endpoint=server_url, cache_dir=str(cache))


def _commit(server_url: str, repo_id: str) -> str:
    from huggingface_hub import HfApi

    return HfApi(endpoint=server_url, token=False).dataset_info(repo_id).sha


def test_a_folder_layout_dataset_repo_is_staged(tmp_path: Path) -> None:
    from fakeimg_assets.testbed.local_hub.server import HubServer

    repo = write_folder_source(tmp_path / "hub" / "datasets" / "acme" / "gan-zoo")
    (repo / "README.md").write_text("---\nlicense: mit\n---\n# gan zoo\n")  # not fetched
    (repo / "stylegan2" / "star*.png").write_bytes(tiny(31))  # a glob name: never requested
    with HubServer(tmp_path / "hub") as server:
        c = stage_collection(tmp_path / "home", "hf://datasets/acme/gan-zoo",
                             hub=_hub(server.url, tmp_path / "cache"), log=_quiet)
        commit = _commit(server.url, "acme/gan-zoo")
        requested = [r.path for r in server.requests]
    assert (c.name, c.source_kind, c.source) == ("gan-zoo", "hub_dataset",
                                                 "hf://datasets/acme/gan-zoo")
    assert c.source_revision == commit and len(commit) == 40
    gens = {g.generator: g for g in c.generators}
    assert list(gens) == ["ADM-guided", "midjourney", "stylegan2"]
    assert gens["stylegan2"].family_group == "gan" and gens["stylegan2"].n_images == 2
    assert gens["stylegan2"].images[0].prompt == "a face"  # metadata.csv came along
    assert len(c.reals) == 2
    assert [(p.file, p.reason) for p in c.problems] == [
        ("stylegan2/star*.png", "unsafe file name (glob character(s) '*' in file name): "
                                "not fetched")]
    assert not any("star" in p or "README" in p for p in requested)
    folder = collection_dir(tmp_path / "home", c.name)
    for g in c.generators:
        for r in g.images:
            assert (folder / r.file).read_bytes() == (repo / r.original).read_bytes()


def test_a_cf_parquet_dataset_repo_is_staged(tmp_path: Path) -> None:
    from fakeimg_assets.testbed.local_hub.server import HubServer

    repo = tmp_path / "hub" / "datasets" / "owens" / "cf-mini"
    rows = cf_rows({"stylegan3": 2, "dalle3": 1}, n_real=2)
    write_cf_parquet(repo / "data" / "train-00000-of-00001.parquet", rows, struct_images=True)
    (repo / "README.md").write_text("# CF mini\n")
    with HubServer(tmp_path / "hub") as server:
        c = stage_collection(tmp_path / "home", "hf://datasets/owens/cf-mini", role="eval",
                             hub=_hub(server.url, tmp_path / "cache"), log=_quiet)
        commit = _commit(server.url, "owens/cf-mini")
    assert (c.name, c.role, c.source_kind, c.source_revision) == ("cf-mini", "eval",
                                                                  "hub_dataset", commit)
    assert [(g.generator, g.family_group, g.n_images) for g in c.generators] == [
        ("stylegan3", "gan", 2), ("dalle3", "commercial", 1)]
    assert len(c.reals) == 2 and c.problems == ()
    assert c.generators[0].images[0].original == (
        "data/train-00000-of-00001.parquet#0 (stylegan3_0.png)")
    shas = {hashlib.sha256(r["image_data"]).hexdigest() for r in rows}
    assert {r.sha256 for g in c.generators for r in g.images} | {r.sha256 for r in c.reals} == shas


@pytest.mark.parametrize("source, match", [
    ("hf://datasets/../../etc", "invalid Hub dataset id '../../etc'"),
    ("hf://datasets/a/b/c", "invalid Hub dataset id 'a/b/c'"),
    ("hf://datasets/a--b/c", "invalid Hub dataset id 'a--b/c'"),
    ("hf://datasets/org", "invalid Hub dataset id 'org'"),
    ("hf://datasets/", "invalid Hub dataset id ''"),
    ("hf://datasets/org/na%2fme", "invalid Hub dataset id 'org/na%2fme'"),
    ("hf://datasets/org/name?revision=x", "invalid Hub dataset id"),
])
def test_a_hostile_dataset_id_fails_naming_it_before_any_request(tmp_path: Path, source: str,
                                                                 match: str) -> None:
    from fakeimg_assets.testbed.local_hub.server import HubServer

    (tmp_path / "hub").mkdir()
    with HubServer(tmp_path / "hub") as server:
        with pytest.raises(ValueError, match=match):
            stage_collection(tmp_path / "home", source, hub=_hub(server.url, tmp_path / "c"),
                             log=_quiet)
        assert server.requests == []
    assert not (tmp_path / "home").exists()


def test_a_missing_dataset_repo_fails_naming_it(tmp_path: Path) -> None:
    from huggingface_hub.errors import RepositoryNotFoundError

    from fakeimg_assets.testbed.local_hub.server import HubServer

    (tmp_path / "hub").mkdir()
    with HubServer(tmp_path / "hub") as server:
        with pytest.raises(RepositoryNotFoundError, match="acme/nope"):
            stage_collection(tmp_path / "home", "hf://datasets/acme/nope",
                             hub=_hub(server.url, tmp_path / "c"), log=_quiet)
    assert not (tmp_path / "home" / "collections" / "nope").exists()
