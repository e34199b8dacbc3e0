"""`fakeimg export DIR --push REPO` against the local Hub server: the real huggingface_hub
client uploads over the LFS route, the files land in the served repo folder byte for byte,
and the dataset downloads back through the normal client and loads offline."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from fakeimg_assets.export.checksums import listed_files, read_sums, verify_sums
from fakeimg_assets.export.push import push_dataset, push_target, validate_repo_id
from fakeimg_assets.lib.paths import sha256_file
from fakeimg_assets.testbed.local_hub.server import HubServer
from tests.helpers.export_home import build_export_home

TOKEN = "hf_push_test"


@pytest.mark.parametrize("bad", ["../x", "a/b/c", "a/..", "org/name.git", "-a/b", "a--b/c",
                                 "a/b c", "noslash", "", "a/" + "n" * 97, "a/b\x00"])
def test_hostile_repo_ids_are_refused_before_any_work(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid --push repo id"):
        validate_repo_id(bad)


def test_a_push_needs_a_token_and_an_http_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(ValueError, match="HF_TOKEN"):
        push_target("org/name", endpoint="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="not an http"):
        push_target("org/name", endpoint="file:///etc", token="t")


def test_export_push_lands_in_the_served_repo_and_downloads_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import datasets
    from huggingface_hub import snapshot_download

    from fakeimg_assets.cli import main

    home = tmp_path / "home"
    home.mkdir()
    sides = build_export_home(home)
    root = tmp_path / "hub"
    root.mkdir()
    out = tmp_path / "out"
    with HubServer(root, tokens=[TOKEN]) as hub:
        monkeypatch.setenv("FAKEIMG_HOME", str(home))
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        assert main(["export", str(out), "--push", "fakeimg/tiny", "--max-rows", "3"]) == 0
        captured = capsys.readouterr()
        assert "pushed to" in captured.out
        assert "not supported by Xet" not in captured.err  # the LFS route is chosen, no fault
        served = root / "datasets" / "fakeimg" / "tiny"
        for rel in listed_files(out) + ["SHA256SUMS"]:
            assert (served / rel).read_bytes() == (out / rel).read_bytes(), rel
        puts = [r for r in hub.requests if r.method == "PUT"]
        assert len(puts) == len(list((out / "data").glob("*.parquet")))  # LFS, basic transfer
        from huggingface_hub import HfApi

        head = HfApi(endpoint=hub.url, token=False).dataset_info("fakeimg/tiny").sha
        again = push_dataset(out, push_target("fakeimg/tiny"))  # the same export again
        assert again.commit == head and len(hub.requests) > len(puts)
        assert len([r for r in hub.requests if r.method == "PUT"]) == len(puts)  # nothing re-sent
        # a second export with fewer shards: the stale remote shards are deleted
        assert main(["export", str(out), "--push", "fakeimg/tiny"]) == 0
        assert sorted(p.name for p in (served / "data").iterdir()) == sorted(
            p.name for p in (out / "data").iterdir())
        back = Path(snapshot_download("fakeimg/tiny", repo_type="dataset", endpoint=hub.url,
                                      token=False, cache_dir=str(tmp_path / "hf-cache")))
        monkeypatch.delenv("HF_TOKEN")
        assert main(["export", str(tmp_path / "o2"), "--push", "fakeimg/tiny"]) == 2
        assert not (tmp_path / "o2").exists()  # refused before any work
    # the Hub cache's snapshot is symlinks to blobs: check every listed file through them
    assert all(sha256_file(back / rel) == digest for rel, digest in read_sums(back).items())
    assert {p.relative_to(back).as_posix() for p in back.rglob('*') if p.is_file()} == {
        *read_sums(back), 'SHA256SUMS'}
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ds = datasets.load_dataset(str(back), cache_dir=str(tmp_path / "ds-cache"))
    df = pl.read_parquet(out / "data")
    assert {s: ds[s].num_rows for s in ds} == dict(df.group_by("split").len().iter_rows())
    assert set(ds) == set(sides)


def test_a_push_the_server_refuses_fails_clearly_and_keeps_the_export(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from fakeimg_assets.cli import main

    home = tmp_path / "home"
    home.mkdir()
    build_export_home(home)
    root = tmp_path / "hub"
    root.mkdir()
    with HubServer(root, tokens=[TOKEN]) as hub:
        monkeypatch.setenv("FAKEIMG_HOME", str(home))
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", "hf_not_listed")
        assert main(["export", str(tmp_path / "out"), "--push", "fakeimg/tiny"]) == 1
    err = capsys.readouterr().err
    assert "push to" in err and "failed" in err and "export" in err
    assert verify_sums(tmp_path / "out") == []
    assert not (root / "datasets").exists()
