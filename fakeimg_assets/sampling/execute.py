"""The torch half of sampling a partition: load the verified snapshot, sample, free it.

One function, `execute`, used both inside a run (`ComputeResource(sampler="in_run")`) and by
the warm sampling worker (`sampling/worker.py`), so the two paths cannot drift: the same
request gives the same bytes whichever process draws them. The request is plain data
(the recipe travels by name) so it crosses a process boundary.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakeimg_assets.sampling.limits import Deadline
from fakeimg_assets.sampling.load import load_pipeline
from fakeimg_assets.sampling.recipes import get_recipe
from fakeimg_assets.sampling.sample import sample_images
from fakeimg_assets.sampling.types import PreparedModel

if TYPE_CHECKING:
    from fakeimg_assets.sampling.types import (
        DownloadPlan,
        ImageRequest,
        PreparedModel,
        SamplingParams,
        SamplingRun,
    )

DTYPES = ("auto", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class SampleRequest:
    """Everything the torch half needs; `max_seconds` is what is left of the partition's budget."""

    model_id: str
    revision: str
    local_dir: Path
    plan: DownloadPlan
    recipe: str
    base_dir: Path | None
    requests: tuple[ImageRequest, ...]
    params: SamplingParams
    device: str = "auto"
    dtype: str = "auto"
    threads: int = 1
    max_seconds: float = 3600.0
    max_model_bytes: int | None = None  # None: a share of the device's memory (components.py)

    @classmethod
    def of(cls, prepared: PreparedModel, requests: Sequence[ImageRequest],
           params: SamplingParams, **kw: Any) -> SampleRequest:
        return cls(prepared.model_id, prepared.revision, prepared.local_dir, prepared.plan,
                   prepared.recipe.name, prepared.base_dir, tuple(requests), params, **kw)

    def prepared(self) -> PreparedModel:

        return PreparedModel(self.model_id, self.revision, self.local_dir, self.plan,
                             get_recipe(self.recipe), self.base_dir)


@dataclass
class SampleOutcome:
    """The images plus where the time went; `worker` says which process drew them."""

    run: SamplingRun
    load_seconds: float
    sample_seconds: float
    worker: dict[str, Any]


def resolve_device(device: str) -> str:
    """`auto` is CUDA when present, else CPU; an explicit CUDA device without CUDA is refused."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"compute device {device!r} requested but CUDA is not available")
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    """float16 on CUDA and float32 on CPU for `auto`; an unknown name is refused by name."""
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"unknown compute dtype {dtype!r}; use one of {sorted(DTYPES)}")
    if dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def execute(request: SampleRequest, on_stage: Callable[[str], None] = lambda _s: None,
            *, clock: Callable[[], float] = time.monotonic,
            on_progress: Callable[[str], None] | None = None) -> SampleOutcome:
    """Load, sample under the remaining time budget, then drop the pipeline.

    `on_stage` hears "load" and "sample" as they start, so a failure names its stage;
    `on_progress` a rate and ETA line after each batch (`sample.sample_images`).
    """
    import torch


    deadline = Deadline(request.max_seconds, clock=clock)
    on_stage("load")
    torch.set_num_threads(max(1, request.threads))
    device = resolve_device(request.device)
    dtype = resolve_dtype(request.dtype, device)
    prepared = request.prepared()
    t0 = time.perf_counter()
    pipe = load_pipeline(prepared, device=device, dtype=dtype,
                                 max_model_bytes=request.max_model_bytes)
    try:
        t_load = time.perf_counter()
        on_stage("sample")
        run = sample_images(pipe, prepared, request.requests, request.params,
                          device=device, dtype=dtype, deadline=deadline,
                          on_progress=on_progress)
        t_sample = time.perf_counter()
    finally:
        del pipe  # a warm worker must not keep one model's weights into the next request
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return SampleOutcome(run, t_load - t0, t_sample - t_load, {"mode": "in_run"})
