"""Repos that are not whole pipelines: LoRA adapters (and, via `single_file`, checkpoints).

Most new text-to-image repos on the Hub hold adapter weights for a base model named in
their card. Such a repo is planned like a pipeline, but against its base: the base is
pinned to the commit sha the Hub gives now, planned and limited like any pipeline, and
fetched into the shared Hub cache, so every adapter of one base reuses one download.
The adapter itself must be safetensors (a pickle-only adapter is refused before any
weight is fetched), its keys must be LoRA keys, and it is applied with diffusers'
`load_lora_weights` while the Hub client is offline. Trigger words from the card are
prepended to every prompt, and the recorded prompt is the one the pipeline saw, so
regeneration needs no special case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakeimg_assets.hub_client.verified import RepoFile
from fakeimg_assets.sampling.download_plan import DownloadPlan
from fakeimg_assets.sampling.repo_kind import (  # re-exported: the kind rules live there
    UnsupportedRepoError,
    card_base_model,
    classify_repo,
    pick_weights_file,
    trigger_words,
)

if TYPE_CHECKING:
    from fakeimg_assets.sampling.remote import RemoteModel
    from fakeimg_assets.sampling.sampler import ImageRequest, PreparedModel
    from resources.hub import HubResource

DEFAULT_ADAPTER_SCALE = 1.0
LORA_KEY_MARKERS = ("lora_A", "lora_B", "lora.down", "lora.up", "lora_down", "lora_up")
ADAPTER_NAME = "fakeimg_adapter"


@dataclass(frozen=True)
class BaseRef:
    """The pinned base pipeline an adapter (or single-file checkpoint) needs."""

    model_id: str
    revision: str  # the base's commit sha when the derived repo was planned
    plan: DownloadPlan  # base files to fetch (lora: the pipeline; single_file: configs)
    weights_file: str  # the derived repo's adapter or checkpoint file
    adapter_scale: float | None = None
    trigger_words: str | None = None
    uncached_bytes: int = 0  # base bytes not yet in the Hub cache when planned


def resolve_base(
    hub: HubResource, model_id: str, base_id: str | None, limits: Any,
    revision: str | None = None,
) -> tuple[RemoteModel, set[str]]:
    """The base pinned at `revision` (the sha recorded when the derived model was first
    planned), else at the Hub's current sha, and planned as a pipeline; or a refusal.

    Also the base files that were already in the Hub cache *before* planning (the plan
    itself fetches the base's small JSON files, which count as this partition's).
    """
    from huggingface_hub.errors import (
        GatedRepoError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    from fakeimg_assets.paths import validate_model_id
    from fakeimg_assets.sampling.download_plan import sizes_from_siblings
    from fakeimg_assets.sampling.remote import fetch_plan

    if not base_id:
        raise UnsupportedRepoError(f"{model_id}: its card names no base_model to apply it to")
    try:
        validate_model_id(base_id)
    except ValueError as exc:
        raise UnsupportedRepoError(f"{model_id}: base_model {base_id!r} is not a repo id") from exc
    try:
        base_info = hub.model_info(base_id, revision=revision)
    except RevisionNotFoundError as exc:
        raise UnsupportedRepoError(
            f"{model_id}: its base {base_id!r} no longer has the base_revision {revision} "
            "recorded in model_metadata; sampling on another revision would record images of a "
            "base other than the one recorded (re-materialize model_metadata to re-pin it)"
        ) from exc
    except (RepositoryNotFoundError, GatedRepoError) as exc:
        raise UnsupportedRepoError(
            f"{model_id}: base model {base_id!r} is not on the Hub at "
            f"{hub.resolved_endpoint()} ({type(exc).__name__})"
        ) from exc
    sizes = sizes_from_siblings(getattr(base_info, "siblings", None) or [])
    if "model_index.json" not in sizes:  # an adapter of an adapter, or a cycle: never followed
        raise UnsupportedRepoError(
            f"{model_id}: base model {base_id!r} is not a diffusers pipeline repo "
            "(no model_index.json)"
        )
    before = cached_paths(hub, base_id, str(base_info.sha), sizes)
    try:
        base = fetch_plan(hub, base_id, base_info.sha, limits)
    except ValueError as exc:  # unsafe, unsupported or not a pipeline: permanent
        raise UnsupportedRepoError(f"{model_id}: base model {base_id!r} refused: {exc}") from exc
    return base, before


def uncached_bytes(files: Sequence[RepoFile], before: set[str]) -> int:
    """Bytes of `files` this partition fetches: those not cached before it was planned."""
    return sum(f.size for f in files if f.path not in before)


def pipeline_supports(pipeline_class: str, method: str) -> bool:
    """Whether diffusers' pipeline class has a loader method (`load_lora_weights`, ...)."""
    import diffusers

    return hasattr(getattr(diffusers, pipeline_class, None), method)


def cached_paths(
    hub: HubResource, model_id: str, revision: str, sizes: Mapping[str, int]
) -> set[str]:
    """Files of one pinned revision already in the Hub cache with their listed size."""
    snap = hub.snapshot_dir(model_id, revision)
    if not snap.is_dir():
        return set()
    return {p for p, n in sizes.items() if (snap / p).is_file() and (snap / p).stat().st_size == n}


def derived_plan(
    base: RemoteModel, kind: str, model_id: str, sizes: Mapping[str, int],
    sha256s: Mapping[str, str], ref: BaseRef,
) -> DownloadPlan:
    """The derived repo's plan: its one weights file, the base's pipeline, both files' bytes."""
    bp = base.plan
    own = ref.weights_file
    return replace(
        bp,
        kind=kind,
        base=ref,
        files=(own,),
        expected=(RepoFile(own, int(sizes[own] or 0), sha256s.get(own)),),
        downloaded_bytes=int(sizes[own] or 0) + ref.uncached_bytes,
        repo_bytes=sum(int(s or 0) for s in sizes.values()),
        n_repo_files=len(sizes),
        skipped=tuple(sorted(p for p in sizes if p != own)),
    )


def fetch_derived_plan(
    hub: HubResource, model_id: str, info: Any, sizes: Mapping[str, int],
    sha256s: Mapping[str, str], limits: Any, *, base_revision: str | None = None,
) -> RemoteModel:
    """Plan a repo without `model_index.json`: a LoRA adapter or a single-file checkpoint,
    on its base at `base_revision` (None: the base's current sha)."""
    from fakeimg_assets.sampling.remote import RemoteModel, check_plan_limits

    kind = classify_repo(sizes, getattr(info, "tags", None))
    card = getattr(info, "card_data", None)
    if kind == "single_file":
        from fakeimg_assets.sampling.single_file import single_file_ref

        base, ref = single_file_ref(hub, model_id, info, sizes, limits, base_revision)
    elif kind == "lora":
        own = pick_weights_file(model_id, sizes, what="LoRA adapter")
        base, cached = resolve_base(hub, model_id, card_base_model(card), limits, base_revision)
        if not pipeline_supports(base.plan.pipeline_class, "load_lora_weights"):
            raise UnsupportedRepoError(
                f"{model_id}: base architecture {base.plan.architecture} "
                f"({base.plan.pipeline_class} of {base.info.id}) takes no LoRA adapters in diffusers"
            )
        ref = BaseRef(
            base.info.id, base.revision, base.plan, own, DEFAULT_ADAPTER_SCALE,
            trigger_words(card), uncached_bytes(base.plan.expected, cached),
        )
    else:
        raise UnsupportedRepoError(
            f"{model_id}@{str(getattr(info, 'sha', ''))[:8]} has no model_index.json and is "
            "neither a LoRA adapter (lora tag or adapter file) nor a single-file checkpoint: "
            f"not a diffusers pipeline repo (files: {', '.join(sorted(sizes)[:8])})"
        )
    plan = derived_plan(base, kind, model_id, sizes, sha256s, ref)
    if kind == "lora":  # an LCM/Lightning/Hyper-SD adapter samples with its few-step settings
        from fakeimg_assets.sampling.recipes import variant_for
        from fakeimg_assets.sampling.remote import distillation_evidence

        plan = replace(plan, recipe=variant_for(
            plan.recipe, {"model_index": base.model_index}, distillation_evidence(info)))  # fmt: skip
    check_plan_limits(model_id, plan, limits)
    return RemoteModel(info, info.sha, base.model_index, plan, base.native_px)


def with_trigger_words(requests: Sequence[ImageRequest], plan: DownloadPlan) -> list[ImageRequest]:
    """Requests whose prompts start with the adapter's trigger words (unchanged otherwise).

    Idempotent: a recorded prompt (regeneration) already starts with them and is kept as is.
    """
    words = getattr(plan.base, "trigger_words", None)
    if plan.kind != "lora" or not words:
        return list(requests)
    prefix = f"{words}, "
    return [r if r.prompt.startswith(prefix) else replace(r, prompt=prefix + r.prompt)
            for r in requests]


def derived_columns(plan: DownloadPlan) -> dict[str, Any]:
    """`model_metadata` columns of the kind: base revision, adapter scale, trigger words."""
    ref = plan.base
    return {
        "kind": plan.kind,
        "base_revision": ref.revision if ref else None,
        "adapter_scale": ref.adapter_scale if ref else None,
        "trigger_words": ref.trigger_words if ref else None,
    }


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
    from fakeimg_assets.sampling.sampler import PreparedModel

    ref = prepared.plan.base
    if ref is None or prepared.base_dir is None:
        raise ValueError(f"{prepared.model_id}: no downloaded base to load")
    return PreparedModel(ref.model_id, ref.revision, prepared.base_dir, ref.plan, prepared.recipe)


def load_derived(prepared: PreparedModel, *, device: str, dtype: Any) -> Any:
    """Base pipeline plus the adapter (or the single-file checkpoint), Hub offline; sized by
    `loading.load_pipeline` before it calls this."""
    from fakeimg_assets.sampling.loading import from_snapshot, hub_offline
    from fakeimg_assets.sampling.sampler import SamplingError

    if prepared.plan.kind == "single_file":
        from fakeimg_assets.sampling.single_file import load_single_file

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
