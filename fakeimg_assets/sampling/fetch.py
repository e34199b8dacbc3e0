"""The fetch stage: exactly the planned files of a pinned revision, verified against the
listing (and a derived repo's base beside them), and their weights removed afterwards."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from fakeimg_assets.hub_client.verified import RepoFile, remove_weights
from fakeimg_assets.lib.errors import FakeimgError
from fakeimg_assets.sampling.limits import SamplingLimits, check_text_file_size
from fakeimg_assets.sampling.plan import is_weight_file
from fakeimg_assets.sampling.recipes import get_recipe
from fakeimg_assets.sampling.types import DownloadPlan, PreparedModel, SamplingError


def prepare(
    model_id: str,
    revision: str,
    plan: DownloadPlan,
    download: Callable[[str, str, Sequence[RepoFile]], Path],
    limits: SamplingLimits | None = None,
) -> PreparedModel:
    """Download exactly the planned files of the pinned revision, verified against the listing.

    Limit and verification errors keep their type (permanent); others get the stage.
    """
    limits = limits or SamplingLimits()
    if not plan.expected:
        raise SamplingError("download", f"{model_id}: the plan carries no file listing")
    try:
        local_dir = download(model_id, revision, plan.expected)
        base = plan.base  # lora/single_file: the base's planned files, shared in the cache
        base_dir = download(base.model_id, base.revision, base.plan.expected) if base else None
    except FakeimgError:
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised with its stage
        raise SamplingError("download", f"{type(exc).__name__}: {exc}") from exc
    missing = [f for f in plan.files if not (local_dir / f).exists()]
    if missing:
        raise SamplingError("download", f"files missing after download: {missing[:5]}")
    for f in plan.files:  # the text caps again, on what actually landed on disk
        if not is_weight_file(f):
            check_text_file_size(model_id, f, (local_dir / f).stat().st_size, limits)
    return PreparedModel(model_id, revision, local_dir, plan, get_recipe(plan.recipe), base_dir)


def release_weights(prepared: PreparedModel) -> int:
    """Remove the model's downloaded weights from the Hub cache; returns bytes freed.

    Small JSON/tokenizer files stay; a later run (or `fakeimg regenerate`) re-downloads.
    """
    return remove_weights(prepared.local_dir, prepared.plan.files, is_weight_file)
