"""Where tensors run: device, dtype and batch size, resolved when a run starts."""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource


class ComputeResource(ConfigurableResource):
    """`auto` picks CUDA (float16) when present, else CPU (float32).

    `torch_threads` caps intra-op threads on CPU so parallel partitions don't oversubscribe.
    """

    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 4
    torch_threads: int | None = None

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
        if self.torch_threads:
            import torch

            torch.set_num_threads(self.torch_threads)
