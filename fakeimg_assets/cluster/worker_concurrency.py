"""A Celery worker's runs at once, noted for the runs it executes (`instance_config.runs_at_once`).

A run's torch threads are this machine's cores / the runs sharing them, which on a worker
is its `--concurrency`, not the cluster-wide `max_concurrent_runs`. Celery hands a number
to `worker_init`, before the pool starts (pool processes inherit the note), except
`--concurrency auto`, which it resolves only after that signal: then the number is noted in
each pool process as it starts (`worker_process_init`), when the worker holds it.
"""

from __future__ import annotations

from celery import signals

from fakeimg_assets.instance_config import note_worker_runs

_CONTROLLER: dict[str, object] = {}  # this process's celery WorkController


def note_concurrency(sender, **_: object) -> None:  # noqa: ANN001 - celery's WorkController
    """`worker_init`: note the worker's `--concurrency` (unless it is still "auto")."""
    _CONTROLLER["worker"] = sender
    note_worker_runs(getattr(sender, "concurrency", None))


def note_resolved_concurrency(**_: object) -> None:
    """`worker_process_init`, in a pool process: the worker's concurrency, resolved by now."""
    worker = _CONTROLLER.get("worker")
    if worker is not None:
        note_worker_runs(getattr(worker, "concurrency", None))


def connect() -> None:
    """Hook both signals (a worker's app module calls this once)."""
    signals.worker_init.connect(note_concurrency, weak=False)
    signals.worker_process_init.connect(note_resolved_concurrency, weak=False)
