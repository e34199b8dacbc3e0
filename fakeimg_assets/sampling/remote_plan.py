"""The plan stage against the Hub: pin a revision, read its model index, plan and limit the
download; for a repo that is not a whole pipeline (a LoRA adapter, a single-file
checkpoint), find its base, pin it and plan it too. Base resolution lives only here.

Only small JSON files are read (each size-capped from the listing before it is fetched and
again on disk), so a hostile repo is refused before any weights are fetched. Every Hub
answer has been checked by the resource's client (`hub_client`) before it reaches this.
Most new text-to-image repos on the Hub hold adapter weights for a base model named in
their card: such a repo is planned against its base, pinned to the sha recorded in
`model_metadata.base_revision` when there is one (else the Hub's current sha), planned and
limited like any pipeline and shared in the Hub cache, so every adapter of one base reuses
one download. A single-file checkpoint fetches only its base's configs (`config=`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakeimg_assets.hub_client.answers import sha256s_from_siblings, sizes_from_siblings
from fakeimg_assets.hub_client.verified import RepoFile
from fakeimg_assets.lib.paths import validate_model_id
from fakeimg_assets.sampling.limits import (
    SamplingLimits,
    check_config_ranges,
    check_declared_size,
    check_download_bytes,
    check_requested_size,
    check_resolution,
    check_text_file_size,
    limits_of,
)
from fakeimg_assets.sampling.plan import is_weight_file, plan_download
from fakeimg_assets.sampling.recipes import get_recipe, variant_for
from fakeimg_assets.sampling.repo_kind import (
    base_from_tags,
    card_base_model,
    classify_repo,
    pick_weights_file,
    trigger_words,
)
from fakeimg_assets.sampling.types import (
    BaseRef,
    DownloadPlan,
    RemoteModel,
    UnsupportedRepoError,
)

if TYPE_CHECKING:
    from resources.hub import HubResource


DENOISERS = ("unet", "transformer")


def distillation_evidence(info: Any) -> list[str]:
    """Hub tags (card tags, `base_model:` lineage) plus the repo id itself, whose name is how
    a Turbo/Lightning/schnell checkpoint is known (`stabilityai/sdxl-turbo` has no such tag)."""
    return [str(t) for t in getattr(info, "tags", None) or []] + [str(getattr(info, "id", ""))]


def read_small_json(
    hub: HubResource, model_id: str, path: str, revision: str, limits: SamplingLimits,
    size: int,
) -> dict[str, Any]:
    """Fetch one planned JSON file of its listed `size` (size-capped before the fetch), re-check
    its size on disk, parse it as an object."""
    check_text_file_size(model_id, path, size, limits)
    local = hub.download_file(model_id, path, revision=revision, expected_size=size)
    check_text_file_size(model_id, path, Path(local).stat().st_size, limits)
    try:
        data = json.loads(Path(local).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{model_id}@{revision[:8]}: {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{model_id}@{revision[:8]}: {path} is not a JSON object")
    return data


def check_plan_limits(model_id: str, plan: DownloadPlan, limits: SamplingLimits) -> None:
    """Per-model byte cap and per-file text caps, from the listing, before any fetch."""
    check_download_bytes(model_id, plan.downloaded_bytes, limits)
    for f in plan.expected:
        if not is_weight_file(f.path):
            check_text_file_size(model_id, f.path, f.size, limits)


def check_component_configs(
    hub: HubResource, model_id: str, remote: RemoteModel, limits: SamplingLimits
) -> int | None:
    """Sane ranges of the denoiser/VAE/scheduler configs and the native resolution cap."""
    files = set(remote.plan.files)
    sizes = {f.path: f.size for f in remote.plan.expected}
    configs: dict[str, dict[str, Any]] = {}
    for name, rel in (
        *((d, f"{d}/config.json") for d in DENOISERS),
        ("vae", "vae/config.json"),
        ("scheduler", "scheduler/scheduler_config.json"),
    ):
        if name in remote.plan.components and rel in files:
            configs[name] = read_small_json(hub, model_id, rel, remote.revision, limits,
                                            sizes[rel])
            check_config_ranges(model_id, rel, configs[name])
    # a distilled (few-step) repo samples with its recipe's variant (e.g. Flux schnell)
    tags = distillation_evidence(remote.info)
    evidence = {"model_index": remote.model_index, **configs}
    remote.plan = replace(remote.plan, recipe=variant_for(remote.plan.recipe, evidence, tags))
    denoiser = next((configs[d] for d in DENOISERS if d in configs), None)
    if denoiser is None or "vae" not in configs:  # MoVQ, cascades, pixel space: the hook
        return hooked_native_size(hub, model_id, remote, limits)
    if denoiser.get("sample_size") is None:  # Flux-style: the size is a pipeline constant
        default = get_recipe(remote.plan.recipe).default_size
        return check_declared_size(model_id, configs["vae"], default, limits)
    return check_resolution(model_id, denoiser, configs["vae"], limits)


def hooked_native_size(
    hub: HubResource, model_id: str, remote: RemoteModel, limits: SamplingLimits
) -> int | None:
    """Native px from the recipe's `native_size` hook over the planned component configs
    (fetched size-capped into the revision's snapshot), against the resolution cap."""
    hook = get_recipe(remote.plan.recipe).native_size
    if hook is None:
        return None
    for f in remote.plan.expected:
        if f.path.count("/") == 1 and f.path.endswith("/config.json"):
            read_small_json(hub, model_id, f.path, remote.revision, limits, f.size)
    size = hook(hub.snapshot_dir(model_id, remote.revision))
    check_requested_size(size, size, limits)
    return size


def fetch_plan(
    hub: HubResource,
    model_id: str,
    revision: str | None = None,
    limits: SamplingLimits | None = None,
    *,
    base_revision: str | None = None,
) -> RemoteModel:
    """Info (sizes, LFS sha256s) of one revision, its `model_index.json`, the checked plan.

    Raises `UnsafeRepoError` for what must never load and `ResourceLimitError` for what is
    over a limit, both before any weight is downloaded. A LoRA or single file is planned on
    its base at `base_revision` (the sha `model_metadata` recorded) when given, else at the
    base's current sha.
    """
    limits = limits or limits_of(hub)
    info = hub.model_info(model_id, revision=revision)  # id, sha and listing checked there
    sha = info.sha
    siblings = getattr(info, "siblings", None) or []
    sizes = sizes_from_siblings(siblings)
    if "model_index.json" not in sizes:  # a LoRA adapter, a single-file checkpoint, or refused
        return fetch_derived_plan(
            hub, model_id, info, sizes, sha256s_from_siblings(siblings), limits,
            base_revision=base_revision,
        )
    check_text_file_size(model_id, "model_index.json", sizes["model_index.json"], limits)
    model_index = read_small_json(
        hub, model_id, "model_index.json", sha, limits, sizes["model_index.json"])
    plan = plan_download(
        model_index, sizes, model_id=model_id, sha256s=sha256s_from_siblings(siblings)
    )
    check_plan_limits(model_id, plan, limits)
    remote = RemoteModel(info, sha, model_index, plan)
    remote.native_px = check_component_configs(hub, model_id, remote, limits)
    return remote


DEFAULT_ADAPTER_SCALE = 1.0


def fetch_derived_plan(
    hub: HubResource, model_id: str, info: Any, sizes: Mapping[str, int],
    sha256s: Mapping[str, str], limits: Any, *, base_revision: str | None = None,
) -> RemoteModel:
    """Plan a repo without `model_index.json`: a LoRA adapter or a single-file checkpoint,
    on its base at `base_revision` (None: the base's current sha)."""
    kind = classify_repo(sizes, getattr(info, "tags", None))
    card = getattr(info, "card_data", None)
    if kind == "single_file":
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
        plan = replace(plan, recipe=variant_for(
            plan.recipe, {"model_index": base.model_index}, distillation_evidence(info)))  # fmt: skip
    check_plan_limits(model_id, plan, limits)
    return RemoteModel(info, info.sha, base.model_index, plan, base.native_px)


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
