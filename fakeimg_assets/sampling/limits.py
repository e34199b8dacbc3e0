"""Resource limits for one model: bytes, file sizes, pixels, config ranges and seconds.

Every Hub repo is hostile until proven otherwise: a resolution bomb or a 40 GB "tiny" model
must cost one failed partition with a reason, never the run or the machine. All checks are
pure functions over the listing and small JSON configs, so they run before any weight is
downloaded and are tested without a network. Every refusal is a `ResourceLimitError`
(permanent: retrying cannot make a repo smaller).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fakeimg_assets.lib.errors import ResourceLimitError

GB = 10**9
MIB = 2**20


@dataclass(frozen=True)
class SamplingLimits:
    """The limits one partition runs under; the defaults fit SDXL/SD3-class real models."""

    max_download_bytes: int = 40 * GB  # sum of the planned files of one model
    max_text_file_bytes: int = 16 * MIB  # each JSON/config/tokenizer/text file
    max_resolution_px: int = 2048  # native and requested height/width
    max_seconds: float = 3600.0  # one partition's sampling, checked between batches

    def __post_init__(self) -> None:
        for name in ("max_download_bytes", "max_text_file_bytes", "max_resolution_px"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SamplingLimits.{name} must be a positive integer, got {value!r}")
        if not self.max_seconds > 0:
            raise ValueError(f"SamplingLimits.max_seconds must be > 0, got {self.max_seconds!r}")


def limits_of(hub: Any, max_seconds: float | None = None) -> SamplingLimits:
    """A Hub resource's limits (`max_download_bytes`, `max_text_file_bytes`,
    `max_resolution_px`) as `SamplingLimits`, plus a partition's time budget."""
    extra = {} if max_seconds is None else {"max_seconds": max_seconds}
    return SamplingLimits(
        max_download_bytes=hub.max_download_bytes,
        max_text_file_bytes=hub.max_text_file_bytes,
        max_resolution_px=hub.max_resolution_px,
        **extra,
    )


def _fmt_bytes(n: int) -> str:
    return f"{n / GB:.2f} GB" if n >= GB else f"{n / MIB:.2f} MiB" if n >= MIB else f"{n} bytes"


def check_download_bytes(model_id: str, planned_bytes: int, limits: SamplingLimits) -> None:
    """Refuse a model whose planned files add up to more than the per-model cap."""
    if planned_bytes > limits.max_download_bytes:
        raise ResourceLimitError(
            f"{model_id}: planned download is {_fmt_bytes(planned_bytes)} ({planned_bytes} bytes), "
            f"over the per-model cap of {_fmt_bytes(limits.max_download_bytes)} "
            f"({limits.max_download_bytes} bytes)"
        )


def check_text_file_size(model_id: str, path: str, size: int, limits: SamplingLimits) -> None:
    """Refuse a JSON/config/tokenizer/text file larger than the cap, before parsing it."""
    if size > limits.max_text_file_bytes:
        raise ResourceLimitError(
            f"{model_id}: {path!r} is {_fmt_bytes(size)} ({size} bytes), over the "
            f"{_fmt_bytes(limits.max_text_file_bytes)} cap on config/tokenizer/text files"
        )


# Positive and bounded: (min, max) for integer config keys that decide memory and time.
# Generous for real models (SDXL unet 4 layers of 1280 ch, Flux 64 channels, 1000 steps).
CONFIG_RANGES: dict[str, tuple[int, int]] = {
    "sample_size": (1, 4096),  # latent for denoisers (cap checked apart), pixels for VAEs
    "in_channels": (1, 256),
    "out_channels": (1, 256),
    "latent_channels": (1, 256),
    "block_out_channels": (1, 8192),
    "layers_per_block": (1, 32),
    "num_layers": (1, 256),
    "num_single_layers": (1, 256),
    "num_attention_heads": (1, 512),
    "attention_head_dim": (1, 4096),
    "patch_size": (1, 64),
    "cross_attention_dim": (1, 65536),
    "joint_attention_dim": (1, 65536),
    "caption_channels": (1, 65536),
    "num_train_timesteps": (1, 100_000),
    "transformer_layers_per_block": (1, 64),
}
MAX_LIST_LEN = 16  # block lists: real models have 3-4 blocks


def check_config_ranges(model_id: str, where: str, config: Mapping[str, Any]) -> None:
    """Every bounded key present in a config must be an int (or list of ints) in range."""
    for key, (lo, hi) in CONFIG_RANGES.items():
        value = config.get(key)
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        if isinstance(value, list | tuple) and not 1 <= len(value) <= MAX_LIST_LEN:
            raise ResourceLimitError(
                f"{model_id}: {where} {key} has {len(value)} entries; allowed 1..{MAX_LIST_LEN}"
            )
        for v in values:
            if isinstance(v, list | tuple):  # e.g. transformer_layers_per_block per block
                check_config_ranges(model_id, where, {key: list(v)})
                continue
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ResourceLimitError(
                    f"{model_id}: {where} {key}={value!r} is outside the sane range {lo}..{hi}"
                )


def vae_scale_factor(vae_config: Mapping[str, Any]) -> int:
    """Pixels per latent cell: 2 ** (number of VAE blocks - 1), as diffusers computes it
    (a deep-compression AutoencoderDC names its blocks `encoder_block_out_channels`)."""
    blocks = vae_config.get("block_out_channels", vae_config.get("encoder_block_out_channels"))
    if not isinstance(blocks, list) or not blocks:
        raise ResourceLimitError(
            f"vae/config.json block_out_channels={blocks!r}: cannot compute the scale factor"
        )
    return 2 ** (len(blocks) - 1)


def native_resolution(denoiser_config: Mapping[str, Any], vae_config: Mapping[str, Any]) -> int:
    """The pipeline's default image side in pixels: denoiser `sample_size` x VAE scale."""
    size = denoiser_config.get("sample_size")
    sizes = size if isinstance(size, list | tuple) else [size]
    if not sizes or not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
        raise ResourceLimitError(f"denoiser config sample_size={size!r} is not an integer")
    return max(sizes) * vae_scale_factor(vae_config)


def check_resolution(
    model_id: str,
    denoiser_config: Mapping[str, Any],
    vae_config: Mapping[str, Any],
    limits: SamplingLimits,
) -> int:
    """Refuse a model whose native size is above the cap (we never silently downscale)."""
    native = native_resolution(denoiser_config, vae_config)
    if native > limits.max_resolution_px:
        raise ResourceLimitError(
            f"{model_id}: native resolution {native}x{native} px (sample_size "
            f"{denoiser_config.get('sample_size')} x VAE scale {vae_scale_factor(vae_config)}) "
            f"is above the resolution cap of {limits.max_resolution_px} px; refused"
        )
    return native


def check_declared_size(
    model_id: str, vae_config: Mapping[str, Any], default: int | None, limits: SamplingLimits
) -> int | None:
    """Native side of a pipeline whose size is a constant (Flux-style: no denoiser
    `sample_size`): the VAE's declared `sample_size` in px, else the recipe's default."""
    size = vae_config.get("sample_size", default)
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ResourceLimitError(f"{model_id}: vae/config.json sample_size={size!r} is not a size")
    if size > limits.max_resolution_px:
        raise ResourceLimitError(
            f"{model_id}: native resolution {size}x{size} px (vae sample_size) is above the "
            f"resolution cap of {limits.max_resolution_px} px; refused"
        )
    return size


def check_requested_size(height: int | None, width: int | None, limits: SamplingLimits) -> None:
    """Refuse a requested height/width above the cap."""
    for name, value in (("height", height), ("width", width)):
        if value is not None and value > limits.max_resolution_px:
            raise ResourceLimitError(
                f"requested {name} {value} px is above the resolution cap of "
                f"{limits.max_resolution_px} px"
            )


@dataclass
class Deadline:
    """A partition's time budget, started when the partition starts, checked between batches."""

    max_seconds: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def check(self, progress: str) -> None:
        """Raise once the budget is spent; `progress` says how far the work got."""
        elapsed = self.elapsed()
        if elapsed > self.max_seconds:
            raise ResourceLimitError(
                f"partition time limit exceeded: {elapsed:.1f} s > max_seconds="
                f"{self.max_seconds:g} ({progress})"
            )
