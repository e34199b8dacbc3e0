"""A lying Hub endpoint writes nothing outside the home and every lie is a named failure row.

`HF_ENDPOINT` may name a mirror nobody controls, so its headers and JSON are hostile input.
`lying_hub.LyingHub` tells one lie per repo; canaries sit where each traversal would land.
The control test runs the unguarded client (`hf_hub_download`) against the same liar and
shows the lies really do write outside its cache, so the platform test cannot pass because
the proxy lies badly.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.helpers.lying_hub import Lie, LyingHub

BASE = "pixelsmith/dreamscape-v1"
LORA = "inkwell-studio/dreamscape-watercolor-lora"
CANARY = b"canary: must never change\n"


def traversal(name: str) -> str:
    """From `<cache>/models--x--y/{refs,blobs,snapshots}/` up to the test's `outside/`
    folder: models--x--y, hf-cache, home, tmp."""
    return f"../../../../outside/{name}"


LIES: dict[str, tuple[str, Lie]] = {
    "liar/honest": (BASE, Lie()),
    "liar/sha-path": (BASE, Lie(sha=traversal("sha"))),
    "liar/commit-path": (BASE, Lie(commit_header=traversal("commit"))),
    "liar/other-commit": (BASE, Lie(commit_header="0" * 40, file="unet/config.json")),
    "liar/etag-path": (BASE, Lie(etag=traversal("etag"))),
    "liar/other-id": (BASE, Lie(repo_id="someone/else")),
    "liar/size": (BASE, Lie(head_size=10**12, file="model_index.json")),
    "liar/endless": (BASE, Lie(endless_body=True, file="unet/config.json")),
    "liar/redirect": (BASE, Lie(redirect="file:///etc/passwd", file="model_index.json")),
    "liar/lfs-sha": (BASE, Lie(lfs_sha="../../lfs")),
    "liar/lora-on-lying-base": (LORA, Lie(base_model="liar/base-sha-path")),
    "liar/base-sha-path": (BASE, Lie(sha=traversal("base-sha"))),
}
# the field each refusal must name
NAMED = {
    "liar/sha-path": "sha",
    "liar/commit-path": "X-Repo-Commit",
    "liar/other-commit": "X-Repo-Commit",
    "liar/etag-path": "ETag",
    "liar/other-id": "repo id",
    "liar/size": "the listing gives",
    "liar/endless": "more than the",
    "liar/redirect": "redirected",
    "liar/lfs-sha": "LFS sha256",
    "liar/lora-on-lying-base": "sha",
    "liar/base-sha-path": "sha",
}
CANARIES = ("sha", "commit", "etag", "base-sha", "lfs")


def _tree(root: Path, skip: Path) -> dict[str, str]:
    """Every file or link under `root` but `skip`, with a digest of what it holds."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip:
            dirnames[:] = []
            continue
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            p = Path(dirpath) / name
            out[str(p)] = (
                "link:" + os.readlink(p) if p.is_symlink()
                else hashlib.sha256(p.read_bytes()).hexdigest()
            )
    return out


def _plant(tmp_path: Path, names: tuple[str, ...] = CANARIES) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in names:
        (outside / name).write_bytes(CANARY)
    return outside


@pytest.fixture
def lying(hub_url: str):
    with LyingHub(hub_url, LIES) as hub:
        yield hub


def test_unguarded_client_is_fooled_by_these_lies(lying: LyingHub, tmp_path: Path) -> None:
    """Control: huggingface_hub's own cache code writes where the liar says."""
    from huggingface_hub import hf_hub_download

    home = tmp_path / "home"
    cache = home / "hf-cache"
    outside = _plant(tmp_path, ("sha",))
    for alias, revision, name in (("liar/sha-path", traversal("sha"), "model_index.json"),
                                  ("liar/etag-path", "main", "model_index.json"),
                                  ("liar/commit-path", "main", "nope.json")):
        try:
            hf_hub_download(alias, name, revision=revision, cache_dir=cache,
                            endpoint=lying.url, token=False)
        except Exception:  # noqa: BLE001 - what matters is what it wrote before failing
            pass
    assert (outside / "sha").read_bytes() != CANARY  # refs/<sha> overwrote the canary
    assert (outside / "etag").is_file()  # blobs/<ETag>: a file created outside the cache
    assert (outside / "commit" / "nope.json").is_file()  # .no_exist/<X-Repo-Commit>/...


@pytest.mark.slow
def test_platform_refuses_every_lie_and_writes_nothing_outside_home(
    lying: LyingHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakeimg_assets.definitions import build_definitions
    from fakeimg_assets.platform_run import RunOptions, run_platform
    from fakeimg_assets.warehouse.store import Warehouse
    from resources import ComputeResource

    home = tmp_path / "home"
    home.mkdir()
    outside = _plant(tmp_path)
    monkeypatch.setenv("FAKEIMG_HOME", str(home))
    monkeypatch.setenv("HF_ENDPOINT", lying.url)
    before = _tree(tmp_path, skip=home)
    defs = build_definitions(home=str(home), endpoint=lying.url,
                             compute=ComputeResource(device="cpu", batch_size=2))
    report = run_platform(
        RunOptions(images_per_model=2, steps=2, detector=False), home=home, defs=defs,
        log=lambda _line: None,
    )
    assert not report.steps_failed, report.steps_failed
    assert report.sampled == ["liar/honest"], (report.sampled, report.failed)

    assert _tree(tmp_path, skip=home) == before  # nothing new, nothing changed outside home
    for name in CANARIES:
        assert (outside / name).read_bytes() == CANARY
    cache = home / "hf-cache"
    assert not list(cache.rglob("refs")) and not list(cache.rglob(".no_exist"))
    for path in cache.rglob("*"):  # every cache entry stays inside the cache
        target = path.resolve()
        assert target.is_relative_to(cache.resolve()), (path, target)

    failures = Warehouse(home).read("model_failures")
    rows = {r["model_id"]: r for r in failures.to_dicts()}
    for alias, field in NAMED.items():
        assert alias in rows, f"no failure row for {alias}"
        row = rows[alias]
        assert field in row["message"], (alias, row["message"])
        assert row["transient"] is False, (alias, row)
        assert row["asset"] == "model_metadata", (alias, row)
