"""The Dagster instance config fakeimg ships, written once by `fakeimg run` and `make dev`.

- run retries: a run whose worker crashed (OOM kill, reboot) is re-executed up to twice.
  Step failures are not run-retried (`retry_on_asset_or_op_failure: false`): transient
  step errors are already retried inside the run (`RetryRequested`), and permanent ones
  (hostile repo, limits) must not be tried again.
- run monitoring: runs stuck starting or whose worker vanished are marked failed, so the
  run retries above and the sensor's re-requests can pick them up.
- pools: the `gpu` pool (sampling and training steps) runs one step at a time per device
  (`default_limit`, the CUDA device count when the file is written, else 1; Dagster 1.13
  spells only a default limit in dagster.yaml: `dagster instance concurrency set gpu N`
  overrides it per pool). Granularity `op`: a run starts, loads and plans while another
  run's step holds the slot, and waits only at its own `gpu` step.
- runs: the pool's slots + 1 at once: one run per device samples or trains while one more
  starts (launching a run and importing torch/diffusers costs several CPU seconds). On 2
  CPU cores an unlimited queue ran 10 runs at once and took 14x longer (NOTES).
- queue: checked every second (Dagster's default is 5 s, and a run takes about 10 s on the
  demo zoo, so a freed slot stayed idle for up to half a run).
- threads: a run's torch threads are the cores / `max_concurrent_runs` (ComputeResource),
  so the runs side by side never oversubscribe the cores; on a cluster worker, the cores /
  the worker's own concurrency (the cluster-wide queue spans every machine).
- sample_model runs its three steps in one process (in_process executor, jobs.py): the
  multiprocess executor paid a process launch and a torch import per step.

An existing dagster.yaml is never overwritten: users own it after the first write.

`cluster_instance_yaml` is the same instance for several machines (docs/cluster.md): runs,
events and schedules in Postgres, runs launched as Celery tasks on workers (dagster-celery),
the queue and the `gpu` pool sized to the workers' devices, and run monitoring that resumes a
run whose worker died. Its URLs are read from environment variables by Dagster when the
instance loads (`{env: ...}`), so one file serves every machine and holds no password.
"""

from __future__ import annotations

import sys
from pathlib import Path

DAGSTER_YAML = """\
# Dagster instance of fakeimg (written once by `fakeimg run` / `make dev`; edit freely,
# it is never overwritten). Reference: https://docs.dagster.io/deployment/oss/dagster-yaml
telemetry:
  enabled: false
run_retries:
  enabled: true
  max_retries: 2
  retry_on_asset_or_op_failure: false  # steps retry transient errors themselves
run_monitoring:
  enabled: true
  start_timeout_seconds: 300
  poll_interval_seconds: 60
run_coordinator:  # the queue: runs wait for a run slot and a `gpu` slot
  module: dagster
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1  # Dagster's 5 s left a freed slot idle for up to 5 s
concurrency:
  pools:
    default_limit: {gpu_slots}  # the `gpu` pool: one sampling / training step per device
    granularity: op
  runs:
    max_concurrent_runs: {max_runs}  # gpu slots + 1: one more run starting meanwhile
"""


# the environment variables a cluster instance reads its services from (docs/cluster.md)
POSTGRES_URL_ENV = "FAKEIMG_POSTGRES_URL"
BROKER_URL_ENV = "FAKEIMG_CELERY_BROKER"
BACKEND_URL_ENV = "FAKEIMG_CELERY_BACKEND"

CLUSTER_YAML = """\
# Dagster instance of a fakeimg cluster (docs/cluster.md): the same file on every machine
# (daemon, webserver, each worker); the services come from the environment.
telemetry:
  enabled: false
storage:
  postgres:
    postgres_url:
      env: {postgres_env}
run_launcher:  # each run is a Celery task on whichever worker is free
  module: fakeimg_assets.cluster.run_launcher
  class: WatchedCeleryRunLauncher
  config:
    broker:
      env: {broker_env}
    backend:
      env: {backend_env}
    config_source:
      broker_connection_retry_on_startup: true
      result_extended: true  # the result names the worker that ran the run
      worker_prefetch_multiplier: 1  # a worker takes one run at a time
run_retries:
  enabled: true
  max_retries: 2
  retry_on_asset_or_op_failure: false  # steps retry transient errors themselves
run_monitoring:  # a run whose worker stopped answering is resumed on another worker
  enabled: true
  start_timeout_seconds: 600
  poll_interval_seconds: {poll_s}
  max_resume_run_attempts: 2
run_coordinator:  # the queue: as many runs at once as the workers have devices
  module: dagster
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
concurrency:
  pools:
    default_limit: {slots}  # the `gpu` pool: one sampling / training step per device
    granularity: op
  runs:
    max_concurrent_runs: {slots}
"""


def cluster_instance_yaml(slots: int, *, poll_interval_seconds: int = 30) -> str:
    """The dagster.yaml text of a cluster whose workers hold `slots` devices in all (one
    Celery worker process per device): Postgres storage, the Celery run launcher, resumes."""
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise ValueError(f"cluster slots (worker devices in all) must be an int >= 1, got {slots!r}")
    if (isinstance(poll_interval_seconds, bool) or not isinstance(poll_interval_seconds, int)
            or poll_interval_seconds < 1):
        raise ValueError("run monitoring poll_interval_seconds must be an int >= 1, got "
                         f"{poll_interval_seconds!r}")
    return CLUSTER_YAML.format(postgres_env=POSTGRES_URL_ENV, broker_env=BROKER_URL_ENV,
                               backend_env=BACKEND_URL_ENV, slots=slots,
                               poll_s=poll_interval_seconds)


def gpu_slots() -> int:
    """CUDA devices on this machine (at least 1: the CPU is one device), counted without
    importing torch (`sampling/device_slots.py`)."""
    from fakeimg_assets.sampling.device_slots import cuda_device_count

    return max(1, cuda_device_count())


def instance_yaml(slots: int | None = None) -> str:
    """The dagster.yaml text for a machine with `slots` devices (default: this one)."""
    slots = gpu_slots() if slots is None else slots
    if slots < 1:
        raise ValueError(f"gpu slots must be >= 1, got {slots}")
    return DAGSTER_YAML.format(gpu_slots=slots, max_runs=slots + 1)


_WORKER_RUNS: dict[str, int] = {}  # this process's Celery worker: runs it executes at once


def note_worker_runs(n: object) -> None:
    """Called by a Celery worker as it starts (`cluster.worker_concurrency`): the runs this
    machine executes at once (its `--concurrency`). Pool processes inherit it, and a run's
    share of this machine's cores is taken from it, not from the cluster-wide queue. A value
    that is not a positive int (Celery's "auto", resolved later) is left unnoted."""
    if isinstance(n, int) and not isinstance(n, bool) and n > 0:
        _WORKER_RUNS["runs"] = n


def runs_at_once(instance: object) -> int:
    """The runs sharing this machine's cores: the Celery worker's concurrency in a cluster
    worker (`note_worker_runs`), else the instance's `max_concurrent_runs` (Dagster's default
    queue allows 10). 1 for an instance without a run queue (ephemeral, in process) or an
    unlimited one (-1): a run then cannot know its share and takes every core, as torch does
    by default."""
    if "runs" in _WORKER_RUNS:
        return _WORKER_RUNS["runs"]
    try:
        queue = instance.get_concurrency_config().run_queue_config  # type: ignore[attr-defined]
    except Exception:  # an instance without a run queue (e.g. ephemeral, in tests)
        return 1
    n = getattr(queue, "max_concurrent_runs", None) if queue is not None else None
    return n if isinstance(n, int) and n > 0 else 1


def write_instance_config(dagster_home: Path | str, text: str | None = None) -> Path:
    """Write `dagster.yaml` (`text`, default: this machine's `instance_yaml()`) into
    `dagster_home` unless one exists; returns its path."""
    home = Path(dagster_home)
    if home.exists() and not home.is_dir():
        raise NotADirectoryError(f"DAGSTER_HOME {home} exists and is not a directory")
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    if not path.exists():
        tmp = path.with_name(".dagster.yaml.tmp")
        tmp.write_text(instance_yaml() if text is None else text)
        tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    """`python -m fakeimg_assets.instance_config DAGSTER_HOME [--cluster SLOTS]` (`make dev`
    writes this machine's; `--cluster` a cluster's, docs/cluster.md)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fakeimg_assets.instance_config")
    parser.add_argument("dagster_home")
    parser.add_argument("--cluster", type=int, default=None, metavar="SLOTS",
                        help="a cluster's instance: Postgres, Celery workers holding SLOTS "
                        "devices in all")
    parser.add_argument("--monitor-every", type=int, default=30, metavar="S",
                        help="cluster run monitoring interval in seconds (default 30)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        text = None if args.cluster is None else cluster_instance_yaml(
            args.cluster, poll_interval_seconds=args.monitor_every)
        print(write_instance_config(args.dagster_home, text))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
