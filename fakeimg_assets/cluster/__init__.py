"""Several machines on Dagster's own engines: a Postgres-backed instance, runs launched as
Celery tasks (dagster-celery's run launcher) onto workers that share one Redis broker, and
images and Parquet on a shared filesystem (docs/cluster.md).

- `run_launcher`: dagster-celery's run launcher, plus a worker-liveness check so that run
  monitoring resumes a run whose worker died;
- `celery_app`: the Celery app workers start with (`celery -A fakeimg_assets.cluster.celery_app
  worker`), configured from the instance's own run launcher, so broker and backend are written
  once, in dagster.yaml;
- `worker_concurrency`: a worker's `--concurrency` (a number or "auto"), noted so that its runs
  share its own cores.

Needs the `cluster` extra (`pip install -e '.[cluster]'`). Nothing here is imported by the code
location: the instance loads the launcher, the workers load the app.
"""
