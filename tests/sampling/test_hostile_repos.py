"""Hostile repos: each attack is served like a healthy model and refused before loading.

The canaries are real pickles (proved in a throwaway subprocess); the platform must never
unpickle one, never request a `.bin`/`.ckpt`/`.py`, and refuse each repo with its reason.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from fakeimg_assets.cli import main as cli_main
from fakeimg_assets.lib.paths import model_slug
from fakeimg_assets.models.assets import model_metadata, sampled_images
from fakeimg_assets.real.assets import prompts, real_photos
from fakeimg_assets.testbed.chaos import address_space_guard
from fakeimg_assets.testbed.zoo.build import load_manifest, repo_dir
from fakeimg_assets.testbed.zoo.hostile import (
    ATTACKS,
    BOMB,
    BOMB_SAMPLE_SIZE,
    CONTROL_NAME,
    FORBIDDEN_SUFFIXES,
    GLOB_NAMES,
    JSON_CAP_BYTES,
    canary_code,
    canary_pickle,
    fired_canaries,
    hostile_repo_dir,
    hostile_repos,
    load_hostile_manifest,
    marker_path,
    write_hostile_repo,
)
from fakeimg_assets.testbed.zoo.models import zoo_models
from fakeimg_assets.warehouse.store import Warehouse

HEALTHY = "pixelsmith/dreamscape-v1"  # the control: same builders, no attack, must sample
SMALL_REAL = {"ops": {"real_photos": {"config": {"min_side": 64}}}}
SMALL_SAMPLING = {"ops": {"sampled_images": {"config": {"images_per_model": 2, "steps": 2}}}}
BY_ATTACK = {h.attack: h for h in hostile_repos()}


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One healthy SD1 repo plus every hostile repo, built through the CLI flag."""
    root = tmp_path_factory.mktemp("hostile-zoo")
    assert cli_main(["zoo", "build", str(root), "--only", HEALTHY, "--hostile"]) == 0
    return root


@pytest.fixture(scope="module")
def server(hostile_root: Path) -> Iterator[object]:
    from fakeimg_assets.testbed.local_hub.server import HubServer

    with HubServer(hostile_root) as srv:
        yield srv


def _run_in_subprocess(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---------------------------------------------------------------------------- canaries


def test_canary_pickle_really_fires_when_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    blob = tmp_path / "diffusion_pytorch_model.bin"
    blob.write_bytes(canary_pickle(marker))
    assert not marker.exists()  # writing it fired nothing
    _run_in_subprocess(f"import pickle; pickle.loads(open({str(blob)!r}, 'rb').read())")
    assert marker.exists()


def test_canary_code_really_fires_when_imported(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    module = tmp_path / "pipeline.py"
    module.write_text(canary_code(marker))
    _run_in_subprocess(f"import runpy; runpy.run_path({str(module)!r})")
    assert marker.exists()


def test_every_pickle_and_code_file_in_hostile_repos_is_a_canary(hostile_root: Path) -> None:
    for hostile in hostile_repos():
        repo = repo_dir(hostile_root, hostile.model.model_id)
        risky = [p for p in repo.rglob("*") if p.is_file() and p.name.endswith(FORBIDDEN_SUFFIXES)]
        assert risky, hostile.attack  # every repo carries at least one canary
        for path in risky:
            rel = path.relative_to(repo).as_posix()
            marker = marker_path(hostile_root, hostile.model.model_id, rel)
            expected = canary_code(marker) if rel.endswith(".py") else None
            if expected is not None:
                assert path.read_text() == expected
            else:
                assert path.read_bytes() == canary_pickle(marker), rel
    assert fired_canaries(hostile_root) == []


# ---------------------------------------------------------------------------- the repos


def test_default_zoo_is_unchanged_and_manifests_record_each_attack(hostile_root: Path) -> None:
    assert len(zoo_models()) >= 17  # grows with the adapter and new-recipe repos
    assert not [m for m in zoo_models() if m.model_id.startswith("hostile-zoo/")]
    manifest = {m.model_id: m for m in load_manifest(hostile_root)}
    recorded = {r["attack"]: r for r in load_hostile_manifest(hostile_root)}
    assert set(recorded) == set(ATTACKS)
    for attack, row in recorded.items():
        model = manifest[row["model_id"]]
        assert model.expect == "failure" and model.reason == row["reason"]
        assert row["refusal"] and row["planted"]
        for rel in row["planted"]:
            assert (hostile_root / row["model_id"] / rel).is_file(), (attack, rel)
    assert manifest[HEALTHY].expect == "ok"


def test_attacks_are_what_they_claim(hostile_root: Path) -> None:
    bomb = json.loads((hostile_repo_dir(hostile_root, BOMB) / "unet/config.json").read_text())
    assert bomb["sample_size"] == BOMB_SAMPLE_SIZE
    big = hostile_repo_dir(hostile_root, "oversized-json") / "unet/config.json"
    assert big.stat().st_size > JSON_CAP_BYTES
    assert json.loads(big.read_text())["in_channels"] == 4  # still a valid config
    nested = hostile_repo_dir(hostile_root, "nested-pickle-pipeline")
    index = json.loads((nested / "model_index.json").read_text())
    assert index["unet"] == ["diffusers", "DiffusionPipeline"]
    assert [p.name for p in (nested / "unet").iterdir()] == ["diffusion_pytorch_model.bin"]


def test_rebuild_is_byte_identical(tmp_path: Path) -> None:
    def digests(repo: Path) -> dict[str, str]:
        return {
            p.relative_to(repo).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(repo.rglob("*"))
            if p.is_file()
        }

    first = digests(write_hostile_repo(tmp_path, BY_ATTACK[BOMB]))
    assert digests(write_hostile_repo(tmp_path, BY_ATTACK[BOMB])) == first


def test_hub_lists_and_serves_the_hostile_names(server, hostile_root: Path, tmp_path) -> None:
    """The attacks are real: the Hub lists every repo as text-to-image and serves the names."""
    from huggingface_hub import HfApi, hf_hub_download

    api = HfApi(endpoint=server.url, token=False)
    listed = {m.id for m in api.list_models(filter="diffusers", pipeline_tag="text-to-image")}
    assert {h.model.model_id for h in hostile_repos()} <= listed
    glob_id = BY_ATTACK["glob-names"].model.model_id
    control_id = BY_ATTACK["control-char-name"].model.model_id
    for model_id, names in ((glob_id, GLOB_NAMES), (control_id, (CONTROL_NAME,))):
        files = set(api.list_repo_files(model_id))
        for name in names:
            assert name in files
            got = hf_hub_download(
                model_id, name, cache_dir=tmp_path, endpoint=server.url, token=False
            )
            assert Path(got).read_bytes() == (repo_dir(hostile_root, model_id) / name).read_bytes()


# ---------------------------------------------------------------------------- refusals


def _materialize(asset, instance, resources, model_id, **kw) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [asset], partition_key=model_id, resources=resources, instance=instance,
        raise_on_error=False, **kw,
    )


def _sample(server, home: Path, model_id: str) -> bool:
    """model_metadata then sampled_images for one model, as `sample_model` runs them; True
    when images were sampled (a refused model materializes, with no images)."""
    from fakeimg_assets.definitions import build_resources
    from fakeimg_assets.models.refusals import latest_metadata
    from resources import ComputeResource

    resources = build_resources(
        home=str(home), endpoint=server.url, compute=ComputeResource(device="cpu", batch_size=2)
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hub_models", [model_id])
        assert dg.materialize(
            [real_photos, prompts], resources=resources, instance=instance, run_config=SMALL_REAL
        ).success
        if not _materialize(model_metadata, instance, resources, model_id).success:
            return False
        if not _materialize(
            sampled_images, instance, resources, model_id, run_config=SMALL_SAMPLING
        ).success:
            return False
        return latest_metadata(instance, "sampled_images", model_id).get("outcome") == "sampled"


def _forbidden_requests(server) -> list[str]:
    log = getattr(server, "requests", None)
    if log is None:  # a server without a request log: the download cache is checked instead
        return []
    paths = [getattr(r, "path", None) or r[1] for r in log]
    return [p for p in paths if p.split("?")[0].endswith(FORBIDDEN_SUFFIXES)]


def _forbidden_cached(home: Path) -> list[str]:
    return [
        p.as_posix()
        for p in (home / "hf-cache").rglob("*")
        if p.name.endswith(FORBIDDEN_SUFFIXES)
    ]


@pytest.mark.slow
def test_healthy_control_repo_samples(server, home: Path) -> None:
    """The same harness on the unattacked repo succeeds, so refusals below mean something."""
    assert _sample(server, home, HEALTHY)
    images = Warehouse(home).read_key("images", f"fake--{model_slug(HEALTHY)}")
    assert images.height == 2


@pytest.mark.slow
@pytest.mark.parametrize("attack", ATTACKS)
def test_hostile_repo_is_refused_before_loading(
    server, hostile_root: Path, home: Path, attack: str
) -> None:
    hostile = BY_ATTACK[attack]
    model_id = hostile.model.model_id
    with address_space_guard():  # a bomb that got past the limits must not take the machine
        sampled = _sample(server, home, model_id)
    assert not sampled, f"{model_id} was sampled: {hostile.model.reason}"
    failures = Warehouse(home).read("model_failures").filter(
        Warehouse(home).read("model_failures")["model_id"] == model_id
    )
    assert failures.height >= 1, f"{model_id} failed without a model_failures row"
    row = failures.sort("failed_at").row(-1, named=True)
    assert row["stage"] not in ("load", "sample", "write"), row  # refused before loading
    assert re.search(hostile.refusal, row["message"].lower()), row["message"]
    assert not row.get("transient"), row  # a hostile repo is a permanent failure
    assert Warehouse(home).read_key("images", f"fake--{model_slug(model_id)}").height == 0
    assert _forbidden_cached(home) == []
    assert _forbidden_requests(server) == []
    assert fired_canaries(hostile_root) == []
