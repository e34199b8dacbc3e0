"""The load stage: a verified snapshot into a pipeline, safetensors only, Hub offline, no
remote code, after its components were sized (`components.py`).

The snapshot holds exactly the planned files, so nothing here needs the network: the Hub
client is offline for the duration of the load (`hub_client.offline`), and any attempt of
diffusers/transformers to call out raises instead of fetching something unplanned. A LoRA
adapter is applied to its pinned base with diffusers' `load_lora_weights` (its keys must be
LoRA keys); a single-file checkpoint is loaded with `from_single_file` and the pinned base's
configs (`config=`); a `.ckpt` (pickle) is never read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fakeimg_assets.hub_client.offline import hub_offline
from fakeimg_assets.sampling.components import check_model_fits
from fakeimg_assets.sampling.types import PreparedModel, SamplingError, UnsupportedRepoError


def load_kwargs(prepared: PreparedModel) -> dict[str, Any]:
    """The exact `from_pretrained` keyword arguments (safety ones fixed, not configurable)."""
    recipe = prepared.recipe
    index = json.loads((prepared.local_dir / "model_index.json").read_text())
    kwargs: dict[str, Any] = dict(recipe.load_kwargs)
    for name in recipe.skip_components:
        if name in index:
            kwargs[name] = None
    for name in (*prepared.plan.absent_components, *recipe.optional_components):
        if name not in prepared.plan.components:
            kwargs[name] = None
    if "requires_safety_checker" in kwargs and "safety_checker" not in index:
        kwargs.pop("requires_safety_checker")
    kwargs.update(
        use_safetensors=True,  # never fall back to .bin pickles
        variant=prepared.plan.variant,
        local_files_only=True,  # the verified snapshot only
        trust_remote_code=False,
        custom_pipeline=None,
    )
    return kwargs


def load_pipeline(prepared: PreparedModel, *, device: str, dtype: Any,
                  max_model_bytes: int | None = None) -> Any:
    """Size the components against the memory budget and their weights (`components.py`),
    then load: a pipeline with `from_snapshot`, a LoRA or single file on its base."""
    check_model_fits(prepared, device=device, dtype=dtype, max_model_bytes=max_model_bytes)
    if prepared.plan.base is not None:  # a LoRA adapter or single-file checkpoint on a base
        return load_derived(prepared, device=device, dtype=dtype)
    return from_snapshot(prepared, device=device, dtype=dtype)


def from_snapshot(prepared: PreparedModel, *, device: str, dtype: Any) -> Any:
    """`from_pretrained` on the local snapshot: safetensors only, offline, no remote code."""
    import diffusers

    cls = getattr(diffusers, prepared.plan.pipeline_class, None)
    if cls is None:
        raise SamplingError(
            "load", f"diffusers {diffusers.__version__} has no {prepared.plan.pipeline_class}"
        )
    try:
        kwargs = load_kwargs(prepared)
        with hub_offline():
            load = prepared.recipe.load or cls.from_pretrained
            pipe = load(str(prepared.local_dir), dtype=dtype, **kwargs)
        pipe = pipe.to(device)
    except Exception as exc:  # noqa: BLE001 - re-raised with its stage
        raise SamplingError("load", f"{type(exc).__name__}: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    return pipe


ADAPTER_NAME = "fakeimg_adapter"


LORA_KEY_MARKERS = ("lora_A", "lora_B", "lora.down", "lora.up", "lora_down", "lora_up")


def load_derived(prepared: PreparedModel, *, device: str, dtype: Any) -> Any:
    """Base pipeline plus the adapter (or the single-file checkpoint), Hub offline; sized by
    `load_pipeline` before it calls this."""
    if prepared.plan.kind == "single_file":
        return load_single_file(prepared, device=device, dtype=dtype)
    ref = prepared.plan.base
    pipe = from_snapshot(base_prepared(prepared), device=device, dtype=dtype)
    check_lora_keys(prepared.local_dir / ref.weights_file, prepared.model_id)
    try:
        with hub_offline():
            pipe.load_lora_weights(
                str(prepared.local_dir), weight_name=ref.weights_file,
                adapter_name=ADAPTER_NAME, use_safetensors=True, local_files_only=True,
            )
        pipe.set_adapters([ADAPTER_NAME], adapter_weights=[float(ref.adapter_scale or 1.0)])
    except Exception as exc:  # noqa: BLE001 - re-raised with its stage
        raise SamplingError("load", f"LoRA {ref.weights_file}: {type(exc).__name__}: {exc}") from exc
    return pipe


def check_lora_keys(path: Path, model_id: str) -> int:
    """The adapter file must hold LoRA tensors (read from the safetensors header only)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        keys = list(f.keys())
    if not any(m in k for k in keys for m in LORA_KEY_MARKERS):
        raise UnsupportedRepoError(
            f"{model_id}: {path.name} holds no LoRA keys (first: {keys[:3]}); not an adapter"
        )
    return len(keys)


def base_prepared(prepared: PreparedModel) -> PreparedModel:
    """The base pipeline's own `PreparedModel` (its verified snapshot in the Hub cache)."""
    ref = prepared.plan.base
    if ref is None or prepared.base_dir is None:
        raise ValueError(f"{prepared.model_id}: no downloaded base to load")
    return PreparedModel(ref.model_id, ref.revision, prepared.base_dir, ref.plan, prepared.recipe)


def single_file_kwargs(prepared: PreparedModel, dtype: Any) -> dict[str, Any]:
    """`from_single_file` keyword arguments: the base's configs, offline, no safety checker."""
    ref = prepared.plan.base
    index = json.loads((prepared.base_dir / "model_index.json").read_text())
    kwargs: dict[str, Any] = {
        name: None for name in prepared.recipe.skip_components if name in index
    }
    for name in (*ref.plan.absent_components, *prepared.recipe.optional_components):
        if name not in ref.plan.components:
            kwargs[name] = None
    if "safety_checker" in index:
        kwargs["requires_safety_checker"] = False
    kwargs.update(config=str(prepared.base_dir), local_files_only=True, torch_dtype=dtype)
    return kwargs


def load_single_file(prepared: PreparedModel, *, device: str, dtype: Any) -> Any:
    """`from_single_file` on the verified checkpoint with the pinned base's configs."""
    import diffusers

    ref = prepared.plan.base
    path = prepared.local_dir / ref.weights_file
    if path.suffix != ".safetensors":  # the plan only ever holds safetensors; belt and braces
        raise UnsupportedRepoError(f"{prepared.model_id}: {path.name} is not safetensors")
    cls = getattr(diffusers, prepared.plan.pipeline_class)
    try:
        with hub_offline():
            pipe = cls.from_single_file(str(path), **single_file_kwargs(prepared, dtype))
        pipe = pipe.to(device)
    except Exception as exc:  # noqa: BLE001 - re-raised with its stage
        raise SamplingError("load", f"single file {path.name}: {type(exc).__name__}: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    return pipe
