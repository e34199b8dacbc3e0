"""The shipped Dagster instance config, and each model's latest state in summaries and
old homes (issue 5, item 4)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from fakeimg_assets.instance_config import (
    gpu_slots,
    instance_yaml,
    runs_at_once,
    write_instance_config,
)
from fakeimg_assets.summary import summarize
from fakeimg_assets.warehouse.schemas import schema_of
from fakeimg_assets.warehouse.store import Warehouse
from resources import WarehouseResource

# ---- the shipped Dagster instance config ---------------------------------------------


def test_instance_config_is_valid_and_never_overwritten(tmp_path: Path) -> None:
    path = write_instance_config(tmp_path / "dagster")
    assert path.read_text() == instance_yaml(gpu_slots())
    instance = dg.DagsterInstance.from_config(str(path.parent))
    try:
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure
        assert instance.run_monitoring_enabled
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == gpu_slots() == 1  # no GPU in CI
        assert str(concurrency.pool_config.pool_granularity.value) == "op"
        assert concurrency.run_queue_config.max_concurrent_runs == 2
        assert runs_at_once(instance) == 2
        assert instance.run_coordinator.dequeue_interval_seconds == 1
    finally:
        instance.dispose()
    path.write_text("telemetry:\n  enabled: false\n# mine\n")
    write_instance_config(path.parent)
    assert path.read_text().endswith("# mine\n")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        write_instance_config(path)


def test_instance_yaml_scales_with_devices(tmp_path: Path) -> None:
    """4 GPUs: 4 `gpu` slots and 5 runs at once (one more starting while four sample)."""
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(4))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 4
        assert concurrency.run_queue_config.max_concurrent_runs == 5
    with pytest.raises(ValueError, match="gpu slots must be >= 1, got 0"):
        instance_yaml(0)


def test_torch_threads_are_the_runs_share_of_the_cores(tmp_path: Path, monkeypatch) -> None:
    """A daemon run (2 at once on the shipped instance) takes cores // 2 threads; an
    explicit `torch_threads` wins; Dagster's default queue (10 runs) leaves 1 thread each;
    an instance with no run queue (ephemeral, in process) leaves all cores."""
    import os

    from resources import ComputeResource

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    home = tmp_path / "dagster"
    write_instance_config(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        with dg.build_resources({"compute": ComputeResource()}, instance=instance) as r:
            assert r.compute.threads() == 4
        with dg.build_resources({"compute": ComputeResource(torch_threads=3)},
                                instance=instance) as r:
            assert r.compute.threads() == 3
    with dg.instance_for_test() as instance, dg.build_resources(
        {"compute": ComputeResource()}, instance=instance
    ) as r:
        assert r.compute.threads() == 1
    with dg.build_resources({"compute": ComputeResource()},
                            instance=dg.DagsterInstance.ephemeral()) as r:
        assert r.compute.threads() == 8


# ---- summaries show each model's latest state ----------------------------------------


def test_summary_lists_models_whose_latest_event_is_a_failure(home: Path) -> None:
    t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    wh = Warehouse(home)

    def fail(model_id: str, at: dt.datetime, transient: bool, refused: bool | None = None,
             error_type: str = "") -> None:
        wh.write("model_failures", f"{model_id.replace('/', '--')}--{at:%H}", [{
            "model_id": model_id, "asset": "sampled_images", "stage": "download",
            "error_type": error_type or ("TransientError" if transient else "UnsafeRepoError"),
            "message": "boom", "transient": transient, "refused": refused, "failed_at": at,
            "dagster_run_id": "r",
        }])

    fail("healed/model", t0, True)
    wh.write("fake_images", "fake--healed--model", [{
        "image_id": "fake:healed/model:00000", "label": "fake", "source": "healed/model",
        "path": "images/fake/healed--model/00000.png", "created_at": t0 + dt.timedelta(hours=1),
    }])
    fail("flaky/model", t0, True, refused=False)
    fail("buggy/model", t0, False, refused=False, error_type="KeyError")  # a broken run
    fail("hostile/model", t0, False, refused=True)
    fail("legacy/model", t0, False)  # a row from before `refused`: permanent = refused
    wh.write("fake_images", "fake--hostile--model", [{
        "image_id": "fake:hostile/model:00000", "label": "fake", "source": "hostile/model",
        "path": "images/fake/hostile--model/00000.png", "created_at": t0 - dt.timedelta(days=1),
    }])  # sampled once, then its new revision was refused: still refused
    text = summarize(home)
    assert "failed models: 2 (1 transient)" in text
    assert "refused models: 2 (by design" in text
    lines = text.splitlines()
    failed = lines.index(next(line for line in lines if line.startswith("failed models")))
    refused = lines.index(next(line for line in lines if line.startswith("refused models")))
    failed_lines = [line for line in lines[failed:refused] if "boom" in line]
    assert [line.split()[0] for line in failed_lines] == ["buggy/model", "flaky/model"]
    assert "False" in failed_lines[0] and "True" in failed_lines[1]
    refused_lines = [line for line in lines[refused:] if "boom" in line]
    assert [line.split()[0] for line in refused_lines] == ["hostile/model", "legacy/model"]


def test_home_from_before_the_transient_column_still_reads(home: Path) -> None:
    """Failure rows written before `transient` existed read as NULL (never re-requested)."""
    old = {k: v for k, v in schema_of("model_failures").items() if k != "transient"}
    folder = Warehouse(home).dataset_dir("model_failures")
    folder.mkdir(parents=True)
    pl.DataFrame(schema=old).write_parquet(folder / "_schema.parquet")
    pl.DataFrame([{
        "model_id": "old/model", "asset": "model_metadata", "stage": "plan", "error_type": "E",
        "message": "before the upgrade", "failed_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "dagster_run_id": "r",
    }], schema=old).write_parquet(folder / "old--model--x.parquet")
    assert "failed models: 1 (0 transient)" in summarize(home)
    rows = WarehouseResource(home=str(home)).query("SELECT transient FROM model_failures")
    assert rows["transient"].to_list() == [None]


# ---- a cluster's instance (docs/cluster.md) -------------------------------------------------


def test_cluster_instance_yaml_is_valid_and_loads_its_launcher(tmp_path: Path,
                                                               monkeypatch) -> None:
    """The cluster's dagster.yaml passes Dagster's own instance schema, and its run launcher
    (fakeimg's, not dagster-celery's) loads from it with the broker the environment names.
    Postgres itself is exercised by the distributed test."""
    pytest.importorskip("dagster_celery", reason="the `cluster` extra is not installed")
    import yaml
    from dagster._core.instance.config import dagster_instance_config
    from dagster._serdes import ConfigurableClassData

    from fakeimg_assets.cluster.run_launcher import WatchedCeleryRunLauncher
    from fakeimg_assets.instance_config import (
        BACKEND_URL_ENV,
        BROKER_URL_ENV,
        cluster_instance_yaml,
    )

    write_instance_config(tmp_path, cluster_instance_yaml(8, poll_interval_seconds=5))
    config, _ = dagster_instance_config(str(tmp_path))
    assert "postgres" in config["storage"] and config["run_monitoring"]["poll_interval_seconds"] == 5
    assert config["run_monitoring"]["max_resume_run_attempts"] == 2
    assert config["concurrency"]["pools"]["default_limit"] == 8
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 8
    monkeypatch.setenv(BROKER_URL_ENV, "redis://127.0.0.1:1/0")
    monkeypatch.setenv(BACKEND_URL_ENV, "redis://127.0.0.1:1/1")
    launcher_config = config["run_launcher"]
    launcher = ConfigurableClassData(launcher_config["module"], launcher_config["class"],
                                     yaml.dump(launcher_config["config"])).rehydrate(
        WatchedCeleryRunLauncher)
    assert isinstance(launcher, WatchedCeleryRunLauncher)
    assert launcher.celery.conf.broker_url == "redis://127.0.0.1:1/0"
    assert launcher.celery.conf.result_extended is True  # the result names its worker
    for bad in (0, -2, 1.5, True, "4"):
        with pytest.raises(ValueError, match=f"cluster slots .* got {bad!r}"):
            cluster_instance_yaml(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="poll_interval_seconds must be an int >= 1, got 0"):
        cluster_instance_yaml(2, poll_interval_seconds=0)


def test_instance_config_command_refuses_a_bad_cluster_size(tmp_path: Path, capsys) -> None:
    from fakeimg_assets.instance_config import main

    assert main([str(tmp_path / "d"), "--cluster", "0"]) == 2
    assert "cluster slots (worker devices in all) must be an int >= 1, got 0" in (
        capsys.readouterr().err)
    assert not (tmp_path / "d" / "dagster.yaml").exists()  # nothing written
    assert main([str(tmp_path / "d"), "--cluster", "3"]) == 0
    assert "WatchedCeleryRunLauncher" in (tmp_path / "d" / "dagster.yaml").read_text()


def test_a_worker_refuses_an_instance_that_is_not_a_cluster(tmp_path: Path) -> None:
    """`celery -A fakeimg_assets.cluster.celery_app worker` on a one-machine instance would
    wait forever for runs the daemon launches elsewhere: it refuses, naming the launcher."""
    pytest.importorskip("dagster_celery", reason="the `cluster` extra is not installed")
    import os
    import subprocess
    import sys

    write_instance_config(tmp_path)  # this machine's: DefaultRunLauncher
    done = subprocess.run([sys.executable, "-c", "import fakeimg_assets.cluster.celery_app"],
                          env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "launches runs with DefaultRunLauncher, not fakeimg's WatchedCeleryRunLauncher" in (
        done.stderr)


def test_a_cluster_workers_runs_share_its_own_cores(tmp_path: Path) -> None:
    """On a Celery worker, a run's share of the cores is the worker's concurrency, not the
    cluster-wide `max_concurrent_runs` (which spans every machine). A fresh process: the
    worker's note is process-wide."""
    path = write_instance_config(tmp_path / "dagster")  # max_concurrent_runs: 2
    seen = _printed_in_fresh_process(
        "import dagster as dg",
        "from fakeimg_assets.instance_config import note_worker_runs, runs_at_once",
        f"instance = dg.DagsterInstance.from_config({str(path.parent)!r})",
        "seen = [runs_at_once(instance)]",
        "for bad in ('auto', 0, -1, True, None):",
        "    note_worker_runs(bad)",
        "seen.append(runs_at_once(instance))",
        "note_worker_runs(5)",
        "seen.append(runs_at_once(instance))",
        "instance.dispose()",
        "print(seen)",
    )
    assert seen == [2, 2, 5]


def test_a_worker_started_with_concurrency_auto_notes_the_number_celery_resolves() -> None:
    """`--concurrency auto` is resolved by Celery only after `worker_init`: a real
    WorkController resolves it, and a pool process notes the number as it starts (Celery's
    own `process_initializer`, which a prefork child runs). A fresh process: the note is
    process-wide."""
    before, resolved, after = _printed_in_fresh_process(
        "from celery import Celery",
        "from celery.concurrency.prefork import process_initializer",
        "from fakeimg_assets.cluster.worker_concurrency import connect",
        "from fakeimg_assets.instance_config import runs_at_once",
        "connect()",
        "app = Celery('t', broker='memory://', backend='cache+memory://')",
        "worker = app.WorkController(concurrency='auto', pool_cls='prefork', hostname='w@x')",
        "seen = [runs_at_once(None), worker.concurrency]",
        "process_initializer(app, 'w@x')",
        "seen.append(runs_at_once(None))",
        "print(seen)",
    )
    if resolved == 1:
        pytest.skip("one CPU: 'auto' resolves to 1, the fallback's value, so nothing shows")
    assert before == 1  # "auto" is not a number at worker_init: nothing noted yet
    assert after == resolved  # the pool process's runs share the cores `resolved` ways


def _printed_in_fresh_process(*lines: str) -> object:
    """What the last line `lines` (a Python program) prints, run in a new interpreter: a
    worker's note is process-wide, so each test starts without one."""
    import ast
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "\n".join(lines)], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    return ast.literal_eval(out.strip().splitlines()[-1])
