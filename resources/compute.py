"""Where tensors run: device, dtype and batch size, resolved when a run starts."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from fakeimg_assets.instance_config import runs_at_once
from fakeimg_assets.sampling.device_slots import (
    check_device_setting,
    cuda_device_count,
    held_device,
    lease_device,
    slot_devices,
)
from fakeimg_assets.sampling.execute import SampleRequest, execute, resolve_device, resolve_dtype
from fakeimg_assets.sampling.worker_client import sample_in_worker

SAMPLERS = ("in_run", "warm_worker")


class ComputeResource(ConfigurableResource):
    """`auto` picks CUDA (float16) when present, else CPU (float32).

    On a machine with several GPUs each sampling or training step is bound to one free
    device for its duration (`sampling/device_slots.py`): `auto` and `cuda` offer every GPU,
    `"cuda:0,cuda:2"` the named ones, and the `gpu` pool runs one step per device.

    `torch_threads` caps intra-op threads; unset, a run takes its share of the CPU cores:
    cores / the instance's `max_concurrent_runs`, so the runs a daemon backfill starts side by
    side do not oversubscribe the machine (measured on 2 cores: see instance_config.py).
    """

    device: str = "auto"  # auto, cpu, cuda (every GPU), cuda:K, or a list "cuda:0,cuda:2"
    device_wait_seconds: float = 3600.0  # a step waits this long for a free device, then fails
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
        check_device_setting(self.device)  # a typo fails the run at once, naming it
        if not self.device_wait_seconds >= 0:
            raise ValueError("ComputeResource.device_wait_seconds must be >= 0, got "
                             f"{self.device_wait_seconds!r}")

        self._runs_at_once = runs_at_once(context.instance)

    def threads(self) -> int:
        """Intra-op threads for this run: `torch_threads`, else its share of the cores."""
        if self.torch_threads:
            return self.torch_threads
        return max(1, (os.cpu_count() or 1) // max(1, self._runs_at_once))

    def slots(self, cuda_count: int | None = None) -> list[str]:
        """The devices this resource's steps are bound to, one step each at a time."""
        if self.device == "cpu":
            return ["cpu"]
        return slot_devices(self.device, cuda_device_count() if cuda_count is None
                            else cuda_count)  # fmt: skip

    @contextmanager
    def bound_device(self, holder: str = "", *, cuda_count: int | None = None,
                     lock_folder: Path | None = None) -> Iterator[str]:
        """Hold a free device of `slots()` for the block and give its name (`cpu` is shared,
        never held); waits up to `device_wait_seconds` for one, then `DeviceBusyError`."""
        with lease_device(self.slots(cuda_count), lock_folder=lock_folder, holder=holder,
                          timeout_seconds=self.device_wait_seconds) as lease:
            yield lease.device

    def resolve_device(self) -> str:
        """The device this step holds (`bound_device`), else the configured one resolved."""
        return resolve_device(held_device() or self.device)

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

        with self.bound_device(holder=f"sampling under {home}") as device:
            request = SampleRequest.of(
                prepared, requests, params, device=device, dtype=self.dtype,
                threads=self.threads(), max_seconds=deadline.max_seconds - deadline.elapsed(),
                max_model_bytes=self.max_model_bytes,
            )
            if self.sampler == "in_run":
                return execute(request, on_stage, on_progress=on_progress)
            return sample_in_worker(request, home, on_stage=on_stage,  # one worker per device
                                    idle_seconds=self.worker_idle_seconds,
                                    max_requests=self.worker_max_requests)
