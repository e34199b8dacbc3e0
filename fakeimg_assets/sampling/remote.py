"""The Hub side of sampling: pin a revision, read its model index, plan and limit the download.

Only small JSON files are read here (each size-capped from the listing before it is fetched
and again on disk), so a hostile repo is refused before any weights are fetched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fakeimg_assets.sampling.download_plan import (
    DownloadPlan,
    is_weight_file,
    plan_download,
    sha256s_from_siblings,
    sizes_from_siblings,
)
from fakeimg_assets.sampling.limits import (
    SamplingLimits,
    check_config_ranges,
    check_declared_size,
    check_download_bytes,
    check_requested_size,
    check_resolution,
    check_text_file_size,
)
from fakeimg_assets.sampling.recipes import get_recipe, variant_for
from resources.hub import HubResource

DENOISERS = ("unet", "transformer")


def distillation_evidence(info: Any) -> list[str]:
    """Hub tags (card tags, `base_model:` lineage) plus the repo id itself, whose name is how
    a Turbo/Lightning/schnell checkpoint is known (`stabilityai/sdxl-turbo` has no such tag)."""
    return [str(t) for t in getattr(info, "tags", None) or []] + [str(getattr(info, "id", ""))]


@dataclass
class RemoteModel:
    info: Any
    revision: str
    model_index: dict[str, Any]
    plan: DownloadPlan
    native_px: int | None = None


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
    limits = limits or hub.limits()
    info = hub.model_info(model_id, revision=revision)  # id, sha and listing checked there
    sha = info.sha
    siblings = getattr(info, "siblings", None) or []
    sizes = sizes_from_siblings(siblings)
    if "model_index.json" not in sizes:  # a LoRA adapter, a single-file checkpoint, or refused
        from fakeimg_assets.sampling.lora import fetch_derived_plan

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
