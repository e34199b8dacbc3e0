"""Single-file checkpoints: one root `.safetensors` of a known base architecture.

A repo without `model_index.json` whose only weights are one original-format checkpoint
(A1111/CompVis era) is loaded with diffusers' `from_single_file`. Architecture detection
keys on real tensor shapes, so the platform never guesses: the card's `base_model` (or a
`base_model:` Hub tag) names a diffusers repo of the base on the Hub, pinned at its sha,
and only its configs and tokenizers are fetched and passed as `config=` (offline). A
`.ckpt` (pickle) is never fetched or read: a repo with only `.ckpt` weights is refused.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fakeimg_assets.sampling.download_plan import is_weight_file
from fakeimg_assets.sampling.lora import (
    BaseRef,
    pipeline_supports,
    resolve_base,
    uncached_bytes,
)
from fakeimg_assets.sampling.repo_kind import (
    UnsupportedRepoError,
    card_base_model,
    pick_weights_file,
)

if TYPE_CHECKING:
    from fakeimg_assets.sampling.remote import RemoteModel
    from fakeimg_assets.sampling.sampler import PreparedModel
    from resources.hub import HubResource


def base_from_tags(tags: list[str] | None) -> str | None:
    """`a/b` from a `base_model:a/b` or `base_model:<relation>:a/b` Hub tag."""
    for tag in tags or []:
        if isinstance(tag, str) and tag.startswith("base_model:"):
            rest = tag.split(":", 1)[1]
            return rest.split(":", 1)[1] if ":" in rest else rest
    return None


def single_file_ref(
    hub: HubResource, model_id: str, info: Any, sizes: dict[str, int], limits: Any,
    base_revision: str | None = None,
) -> tuple[RemoteModel, BaseRef]:
    """The base (configs only) and reference of a single-file checkpoint, or a refusal."""
    own = pick_weights_file(model_id, sizes, what="single-file checkpoint")
    card = getattr(info, "card_data", None)
    base_id = card_base_model(card) or base_from_tags(getattr(info, "tags", None))
    if not base_id:
        raise UnsupportedRepoError(
            f"{model_id}: single-file checkpoint {own} names no base_model (card or tags): its "
            "architecture and configs are unknown"
        )
    base, before = resolve_base(hub, model_id, base_id, limits, base_revision)
    if not pipeline_supports(base.plan.pipeline_class, "from_single_file"):
        raise UnsupportedRepoError(
            f"{model_id}: base {base_id} is a {base.plan.pipeline_class}, which diffusers "
            "cannot load from a single file"
        )
    configs = tuple(f for f in base.plan.expected if not is_weight_file(f.path))
    config_plan = replace(
        base.plan,
        files=tuple(f.path for f in configs),
        expected=configs,
        downloaded_bytes=sum(f.size for f in configs),
    )
    ref = BaseRef(
        base.info.id, base.revision, config_plan, own, None, None,
        uncached_bytes(configs, before),
    )
    return base, ref


def single_file_kwargs(prepared: PreparedModel, dtype: Any) -> dict[str, Any]:
    """`from_single_file` keyword arguments: the base's configs, offline, no safety checker."""
    import json

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

    from fakeimg_assets.sampling.loading import hub_offline
    from fakeimg_assets.sampling.sampler import SamplingError

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
