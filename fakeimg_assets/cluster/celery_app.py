"""The Celery app a fakeimg worker runs: `celery -A fakeimg_assets.cluster.celery_app worker`.

Broker, result backend and Celery settings are read from the instance's run launcher
(`$DAGSTER_HOME/dagster.yaml`, `instance_config.cluster_instance_yaml`), the very config the
daemon launches runs with, so the two cannot disagree. Celery needs the app at module level:
importing this module loads the instance, which is why only workers import it.
"""

from __future__ import annotations

from dagster import DagsterInstance
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task

from fakeimg_assets.cluster.run_launcher import WatchedCeleryRunLauncher
from fakeimg_assets.cluster.worker_concurrency import connect as note_worker_concurrency


def build_app():  # -> celery.Celery
    """The app of the instance at $DAGSTER_HOME, with the run and resume tasks registered."""
    instance = DagsterInstance.get()
    launcher = instance.run_launcher
    if not isinstance(launcher, WatchedCeleryRunLauncher):
        raise RuntimeError(
            f"the Dagster instance at {instance.root_directory} launches runs with "
            f"{type(launcher).__name__}, not fakeimg's WatchedCeleryRunLauncher: write its "
            "dagster.yaml with `python -m fakeimg_assets.instance_config DIR --cluster`"
        )
    celery = make_app(app_args=launcher.app_args())
    create_execute_job_task(celery)
    create_resume_job_task(celery)
    return celery


note_worker_concurrency()
app = build_app()
