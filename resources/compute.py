"""Where tensors run: device, dtype and batch size, resolved when a run starts."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from fakeimg_assets.instance_config import runs_at_once
from fakeimg_assets.sampling.execute import SampleRequest, execute, resolve_device, resolve_dtype
from fakeimg_assets.sampling.worker_client import sample_in_worker

SAMPLERS = ("in_run", "warm_worker")


class ComputeResource(ConfigurableResource):
    """`auto` picks CUDA (float16) when present, else CPU (float32).

    `torch_threads` caps intra-op threads; unset, a run takes its share of the CPU cores:
    cores / the instance's `max_concurrent_runs`, so the runs a daemon backfill starts side by
    side do not oversubscribe the machine (measured on 2 cores: see instance_config.py).
    """

    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 4
    torch_threads: int | None = None
    # "in_run": torch is imported by each run; "warm_worker": a long-lived process per home and
    # device samples for every run (sampling/worker.py), so daemon runs skip a ~7 s import
    sampler: str = "in_run"
    worker_idle_seconds: float = 600.0  # the warm worker exits after this long without work
    worker_max_requests: int = 200  # ... or after this many partitions (a fresh one follows)
    # the memory one model's parameters may take when loaded; None: 75% of the machine's (or
    # cgroup's) memory on CPU, 90% of the device's on CUDA (sampling/components.py)
    max_model_bytes: int | None = None
    _runs_at_once: int = PrivateAttr(default=1)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"ComputeResource.sampler must be one of {SAMPLERS}, got "
                             f"{self.sampler!r}")

        self._runs_at_once = runs_at_once(context.instance)

    def threads(self) -> int:
        """Intra-op threads for this run: `torch_threads`, else its share of the cores."""
        if self.torch_threads:
            return self.torch_threads
        return max(1, (os.cpu_count() or 1) // max(1, self._runs_at_once))

    def resolve_device(self) -> str:

        return resolve_device(self.device)

    def resolve_dtype(self) -> Any:

        return resolve_dtype(self.dtype, self.resolve_device())

    def apply_threads(self) -> None:
        import torch

        torch.set_num_threads(self.threads())

    def sample(self, prepared: Any, requests: Sequence[Any], params: Any, *, deadline: Any,
               home: Path, on_stage: Callable[[str], None],
               on_progress: Callable[[str], None] | None = None) -> Any:
        """The torch half of sampling a partition (`sampling/execute.py`), here or in the warm
        worker; returns a `SampleOutcome`. `deadline` is the partition's, already running.
        `on_progress` hears a rate and ETA line per batch when sampling in the run (the warm
        worker logs them to its own log)."""

        request = SampleRequest.of(
            prepared, requests, params, device=self.device, dtype=self.dtype,
            threads=self.threads(), max_seconds=deadline.max_seconds - deadline.elapsed(),
            max_model_bytes=self.max_model_bytes,
        )
        if self.sampler == "in_run":
            return execute(request, on_stage, on_progress=on_progress)

        return sample_in_worker(request, home, on_stage=on_stage,
                                idle_seconds=self.worker_idle_seconds,
                                max_requests=self.worker_max_requests)
