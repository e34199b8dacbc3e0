"""Where tensors run: device, dtype and batch size, resolved when a run starts."""

from __future__ import annotations

import os
from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr


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
    _runs_at_once: int = PrivateAttr(default=1)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        from fakeimg_assets.instance_config import runs_at_once

        self._runs_at_once = runs_at_once(context.instance)

    def threads(self) -> int:
        """Intra-op threads for this run: `torch_threads`, else its share of the cores."""
        if self.torch_threads:
            return self.torch_threads
        return max(1, (os.cpu_count() or 1) // max(1, self._runs_at_once))

    def resolve_device(self) -> str:
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"compute device {self.device!r} requested but CUDA is not available")
        return self.device

    def resolve_dtype(self) -> Any:
        import torch

        names = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
        if self.dtype == "auto":
            return torch.float16 if self.resolve_device().startswith("cuda") else torch.float32
        if self.dtype not in names:
            raise ValueError(f"unknown compute dtype {self.dtype!r}; use one of {sorted(names)} or 'auto'")
        return names[self.dtype]

    def apply_threads(self) -> None:
        import torch

        torch.set_num_threads(self.threads())
