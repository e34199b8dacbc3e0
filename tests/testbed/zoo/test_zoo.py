"""The tiny model zoo: real builds, real reloads, real sampling (no mocks, all offline)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from fakeimg_assets.lib.paths import validate_model_id
from fakeimg_assets.testbed.zoo.build import build_zoo, load_manifest, repo_dir, write_repo
from fakeimg_assets.testbed.zoo.models import (
    ARCHITECTURES,
    HUB_METADATA,
    ZOO_MANIFEST,
    ZooModel,
    zoo_models,
)

SD1 = "pixelsmith/dreamscape-v1"
SD3 = "quietmachine/sd3-lumina-tune"
BLACK = "midnight-collective/noir-diffusion"
HOSTILE = "shadyhub/turbo-everything"
PICKLE = "oldschool-ckpt/classic-realism-xl"
CORRUPT = "bitrot-labs/pixart-broken-upload"
BUILT = [SD1, SD3, BLACK, HOSTILE, PICKLE, CORRUPT]


def _model(model_id: str) -> ZooModel:
    return next(m for m in zoo_models() if m.model_id == model_id)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _weights(repo: Path) -> dict[str, str]:
    """sha256 of every weights file, by repo-relative path."""
    return {
        str(p.relative_to(repo)): _sha256(p)
        for p in sorted(repo.rglob("*"))
        if p.is_file() and p.suffix in (".safetensors", ".bin", ".ckpt")
    }


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("zoo")
    build_zoo(root, only=BUILT[:3])
    build_zoo(root, only=BUILT[3:])  # a second `only=` build must accumulate in zoo.json
    return root


# ---------------------------------------------------------------------------- catalogue


def test_catalogue_invariants() -> None:
    models = zoo_models()
    ids = [m.model_id for m in models]
    assert len(ids) == len(set(ids))
    for model_id in ids:
        validate_model_id(model_id)
    expects = Counter(m.expect for m in models)
    assert expects["ok"] >= 12
    assert expects["quarantine"] >= 1
    assert expects["failure"] >= 3
    assert set(expects) <= {"ok", "quarantine", "failure"}
    healthy = [m for m in models if m.expect == "ok"]
    per_arch = Counter(m.architecture for m in healthy)
    assert set(per_arch) >= set(ARCHITECTURES)  # + one repo per newer recipe (zoo/arch_*.py)
    assert min(per_arch[a] for a in ARCHITECTURES) >= 3
    assert len({m.model_id.split("/")[0] for m in models}) >= 5  # several orgs
    for m in models:
        assert (m.reason is None) == (m.expect == "ok"), m.model_id
        assert m.created_at.endswith("Z") and "2023" <= m.created_at[:4] <= "2025"
    # the newest models are not all one architecture
    newest = sorted(healthy, key=lambda m: m.created_at)[-4:]
    assert len({m.architecture for m in newest}) >= 3
    # each architecture spans the years
    for arch in ARCHITECTURES:
        years = {m.created_at[:4] for m in healthy if m.architecture == arch}
        assert len(years) >= 2, arch
    assert {m.scheduler for m in healthy if m.architecture == "sd1"} >= {"PNDMScheduler"}


def test_unknown_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="not in the zoo catalogue"):
        build_zoo(tmp_path, only=["nobody/nothing"])


# ---------------------------------------------------------------------------- layout


def _front_matter(readme: str) -> dict[str, object]:
    import yaml

    assert readme.startswith("---\n")
    return yaml.safe_load(readme.split("---\n")[1])


def test_manifest_accumulates(zoo: Path) -> None:
    rows = json.loads((zoo / ZOO_MANIFEST).read_text())["models"]
    assert sorted(r["model_id"] for r in rows) == sorted(BUILT)
    assert {m.model_id: m for m in load_manifest(zoo)}[SD1] == _model(SD1)


@pytest.mark.parametrize("model_id", [SD1, SD3, BLACK])
def test_healthy_layout(zoo: Path, model_id: str) -> None:
    model = _model(model_id)
    repo = repo_dir(zoo, model_id)
    index = json.loads((repo / "model_index.json").read_text())
    assert index["_class_name"] == model.pipeline_class
    denoiser = "unet" if "unet" in index else "transformer"
    for component in (denoiser, "vae", "text_encoder"):
        assert (repo / component / "config.json").is_file()
    sched = json.loads((repo / "scheduler" / "scheduler_config.json").read_text())
    assert sched["_class_name"] == model.scheduler
    assert (repo / "tokenizer" / "tokenizer.json").is_file()
    # redundant files a careful downloader skips
    assert (repo / denoiser / "diffusion_pytorch_model.safetensors").is_file()
    assert (repo / denoiser / "diffusion_pytorch_model.fp16.safetensors").is_file()
    assert (repo / denoiser / "diffusion_pytorch_model.bin").is_file()
    assert (repo / "vae" / "diffusion_pytorch_model.fp16.safetensors").is_file()
    assert (repo / "text_encoder" / "model.fp16.safetensors").is_file()
    assert (repo / f"{repo.name}.safetensors").is_file()
    if model.architecture == "sd1":
        assert (repo / f"{repo.name}.ckpt").is_file()
        assert index["safety_checker"] == [None, None]
    if model.architecture == "sd3":
        assert index["text_encoder_3"] == [None, None]
        assert index["tokenizer_3"] == [None, None]
    assert "lfs" in (repo / ".gitattributes").read_text()
    card = _front_matter((repo / "README.md").read_text())
    assert card["license"] == model.license
    assert card["pipeline_tag"] == "text-to-image"
    assert card["library_name"] == "diffusers"
    assert {"text-to-image", "diffusers"} <= set(card["tags"])
    meta = json.loads((repo / HUB_METADATA).read_text())
    assert meta["created_at"] == model.created_at
    assert meta["last_modified"] > meta["created_at"]
    assert meta["author"] == model_id.split("/")[0]
    assert meta["gated"] is False and meta["private"] is False
    assert isinstance(meta["downloads"], int) and isinstance(meta["likes"], int)
    assert f"diffusers:{model.pipeline_class}" in meta["tags"]
    total = sum(p.stat().st_size for p in repo.rglob("*") if p.is_file())
    assert total < 3_000_000


def test_broken_layouts(zoo: Path) -> None:
    hostile = repo_dir(zoo, HOSTILE)
    index = json.loads((hostile / "model_index.json").read_text())
    assert index["_class_name"] == ["pipeline", "EvilPipeline"]
    assert "raise ImportError" in (hostile / "pipeline.py").read_text()
    unet = repo_dir(zoo, PICKLE) / "unet"
    assert (unet / "diffusion_pytorch_model.bin").is_file()
    assert not list(unet.glob("*.safetensors"))
    corrupt = repo_dir(zoo, CORRUPT) / "transformer" / "diffusion_pytorch_model.safetensors"
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    with pytest.raises((SafetensorError, ValueError, OSError)):
        load_file(corrupt)


# ---------------------------------------------------------------------------- determinism


def test_build_is_deterministic(zoo: Path, tmp_path: Path) -> None:
    for model_id in (SD1, SD3):
        again = write_repo(tmp_path, _model(model_id))
        first = repo_dir(zoo, model_id)
        assert _weights(again) == _weights(first)
        assert len(_weights(first)) >= 8
        for name in ("model_index.json", ".hub.json", "README.md", "unet/config.json"):
            if (first / name).exists():
                assert _sha256(again / name) == _sha256(first / name)


# ---------------------------------------------------------------------------- loading


def test_healthy_reloads_and_samples(zoo: Path, tmp_path: Path) -> None:
    import numpy as np

    from fakeimg_assets.testbed.zoo.verify import load_zoo_pipeline, sample_image, verify_repo

    for model_id in (SD1, SD3):
        model = _model(model_id)
        check = verify_repo(repo_dir(zoo, model_id), model)
        assert check.ok, check
        assert check.size == (64, 64) and check.default_size == (64, 64)

    # loading ignores the .bin/.ckpt/fp16/single-file copies: garbage there changes nothing
    repo = repo_dir(zoo, SD1)
    pipe = load_zoo_pipeline(repo, "sd1")
    reference = np.asarray(sample_image(pipe, "sd1", seed=3))
    garbled = tmp_path / "dreamscape-v1"
    shutil.copytree(repo, garbled)
    redundant = [
        p
        for p in garbled.rglob("*")
        if p.is_file()
        and (p.suffix in (".bin", ".ckpt") or ".fp16." in p.name or p.parent == garbled)
        and p.suffix in (".bin", ".ckpt", ".safetensors")
    ]
    assert len(redundant) == 6
    for p in redundant:
        p.write_bytes(b"not a weights file")
    again = np.asarray(sample_image(load_zoo_pipeline(garbled, "sd1"), "sd1", seed=3))
    assert np.array_equal(reference, again)


def test_quarantine_model_samples_black(zoo: Path) -> None:
    from fakeimg_assets.testbed.zoo.verify import verify_repo

    check = verify_repo(repo_dir(zoo, BLACK), _model(BLACK))
    assert check.ok, check


@pytest.mark.parametrize(
    ("model_id", "message"),
    [
        (HOSTILE, "custom code in pipeline.py"),
        (PICKLE, "no file named diffusion_pytorch_model.safetensors"),
        (CORRUPT, "Unable to load weights"),
    ],
)
def test_failure_repos_refuse_to_load(zoo: Path, model_id: str, message: str) -> None:
    from fakeimg_assets.testbed.zoo.verify import verify_repo

    check = verify_repo(repo_dir(zoo, model_id), _model(model_id))
    assert check.ok, check
    assert message in check.detail
    assert "remote code from" not in check.detail  # pipeline.py was never imported
