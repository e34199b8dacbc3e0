"""The `dg` tooling on this layout: `dg check defs` loads the code location of pyproject's
[tool.dg], and `dg launch` materializes one partition on a persistent instance, reading
FAKEIMG_HOME and HF_TOKEN through the code location's `dagster.EnvVar`s."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from tests.helpers.repo import ROOT
from tests.helpers.zoo import pick

pytestmark = pytest.mark.slow  # runs the `dg` CLI in subprocesses and materializes a partition

DG = Path(sys.executable).with_name("dg")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FAKEIMG_HOME", "HF_TOKEN", "DAGSTER_HOME", "HF_ENDPOINT")}
    env.update(VIRTUAL_ENV=str(Path(sys.executable).parents[1]),
               PATH=f"{DG.parent}{os.pathsep}{env.get('PATH', '')}", **extra)
    return env


def _dg(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DG), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def test_dg_check_defs_loads_the_code_location() -> None:
    proc = _dg("check", "defs", env=_env())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "All definitions loaded successfully" in proc.stdout + proc.stderr


def _instance_with_partition(dagster_home: Path, model_id: str) -> None:
    from fakeimg_assets.instance_config import write_instance_config

    write_instance_config(dagster_home)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.add_dynamic_partitions("hub_models", [model_id])


def test_dg_launch_materializes_one_partition(tmp_path: Path, hub_url: str, zoo_catalog) -> None:
    from fakeimg_assets.warehouse.store import Warehouse

    model = pick(zoo_catalog, expect="ok", architecture="sd1")
    home, dagster_home = tmp_path / "home", tmp_path / "dagster"
    _instance_with_partition(dagster_home, model.model_id)
    env = _env(FAKEIMG_HOME=str(home), HF_TOKEN="", DAGSTER_HOME=str(dagster_home),
               HF_ENDPOINT=hub_url)
    proc = _dg("launch", "--assets", "model_metadata", "--partition", model.model_id, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = Warehouse(home).read("model_metadata")
    assert rows["model_id"].to_list() == [model.model_id]
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("model_metadata"))
        assert event is not None and event.dagster_event.partition == model.model_id


def test_dg_launch_without_fakeimg_home_names_the_variable(
    tmp_path: Path, hub_url: str, zoo_catalog
) -> None:
    """The code location's EnvVar fails the run naming the variable; it never falls back
    to writing `./data` under the repository."""
    model = pick(zoo_catalog, expect="ok", architecture="sd1")
    dagster_home = tmp_path / "dagster"
    _instance_with_partition(dagster_home, model.model_id)
    before = sorted(p.name for p in ROOT.iterdir())
    env = _env(HF_TOKEN="", DAGSTER_HOME=str(dagster_home), HF_ENDPOINT=hub_url)
    proc = _dg("launch", "--assets", "model_metadata", "--partition", model.model_id, env=env)
    assert proc.returncode != 0
    assert 'environment variable "FAKEIMG_HOME" which is not set' in proc.stdout + proc.stderr
    assert sorted(p.name for p in ROOT.iterdir()) == before
