"""Loading a verified snapshot: safetensors only, Hub offline, no remote code.

The snapshot holds exactly the planned files, so nothing here needs the network: the Hub
client is switched to offline mode for the duration of the load, and any attempt of
diffusers/transformers to call out raises instead of fetching something unplanned.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakeimg_assets.sampling.sampler import PreparedModel

_OFFLINE_LOCK = threading.Lock()


@contextmanager
def hub_offline() -> Iterator[None]:
    """`HF_HUB_OFFLINE` semantics for a block: every Hub HTTP request raises.

    huggingface_hub reads `constants.HF_HUB_OFFLINE` on each request (`is_offline_mode`),
    so flipping it (under a lock, restored afterwards) works after import, unlike the
    environment variable, which is read once at import time.
    """
    from huggingface_hub import constants

    with _OFFLINE_LOCK:
        before = constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = True
        try:
            yield
        finally:
            constants.HF_HUB_OFFLINE = before


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
    from fakeimg_assets.sampling.components import check_model_fits

    check_model_fits(prepared, device=device, dtype=dtype, max_model_bytes=max_model_bytes)
    if prepared.plan.base is not None:  # a LoRA adapter or single-file checkpoint on a base
        from fakeimg_assets.sampling.lora import load_derived

        return load_derived(prepared, device=device, dtype=dtype)
    return from_snapshot(prepared, device=device, dtype=dtype)


def from_snapshot(prepared: PreparedModel, *, device: str, dtype: Any) -> Any:
    """`from_pretrained` on the local snapshot: safetensors only, offline, no remote code."""
    import diffusers

    from fakeimg_assets.sampling.sampler import SamplingError

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
