"""The cluster's run launcher creates the pools a run's steps claim before any worker claims
them, on a real Postgres instance: Dagster creates a missing pool at its first claim, and on
Postgres two workers doing that at once lost a run (`InFailedSqlTransaction`)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from tests.helpers.cluster_services import cluster_test_marks, postgres_server

pytestmark = cluster_test_marks(("dagster_celery", "dagster_postgres"))


@dg.op(pool="gpu")
def on_a_device() -> int:
    return 1


@dg.op
def anywhere(n: int) -> int:
    return n


@dg.job
def pooled() -> None:
    anywhere(on_a_device())


def test_launching_a_run_creates_its_pools_first(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.launcher import LaunchRunContext
    from dagster_celery.launcher import CeleryRunLauncher

    from fakeimg_assets.cluster.run_launcher import WatchedCeleryRunLauncher
    from fakeimg_assets.instance_config import (
        BACKEND_URL_ENV,
        BROKER_URL_ENV,
        POSTGRES_URL_ENV,
        cluster_instance_yaml,
        write_instance_config,
    )

    sent = []  # the broker is not this test's subject: the Celery task is only recorded

    def send(self, context) -> None:  # noqa: ANN001
        pools = {p.name: p.limit for p in self._instance.event_log_storage.get_pool_limits()}
        sent.append((context.dagster_run.run_id, pools))

    monkeypatch.setattr(CeleryRunLauncher, "launch_run", send)
    write_instance_config(tmp_path, cluster_instance_yaml(3))
    with postgres_server() as url:
        monkeypatch.setenv(POSTGRES_URL_ENV, url)
        monkeypatch.setenv(BROKER_URL_ENV, "redis://127.0.0.1:1/0")
        monkeypatch.setenv(BACKEND_URL_ENV, "redis://127.0.0.1:1/1")
        with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
            launcher = instance.run_launcher
            assert isinstance(launcher, WatchedCeleryRunLauncher)
            storage = instance.event_log_storage
            assert storage.get_pool_limits() == []
            first = instance.create_run_for_job(pooled)
            launcher.launch_run(LaunchRunContext(dagster_run=first, workspace=None))
            # the pool existed, at the default limit, when the task was sent
            assert sent == [(first.run_id, {"gpu": 3})]
            (gpu,) = storage.get_pool_limits()
            assert (gpu.name, gpu.limit, gpu.from_default) == ("gpu", 3, True)
            # a second run finds it: Dagster's creation would fail on the existing row
            second = instance.create_run_for_job(pooled)
            launcher.launch_run(LaunchRunContext(dagster_run=second, workspace=None))
            assert launcher.initialize_pools(second) == []
            # a limit a user set for the pool is never reset to the default
            storage.set_concurrency_slots("gpu", 5)
            third = instance.create_run_for_job(pooled)
            launcher.launch_run(LaunchRunContext(dagster_run=third, workspace=None))
            assert sent[-1] == (third.run_id, {"gpu": 5})
