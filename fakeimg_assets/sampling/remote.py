"""The Hub side of sampling: pin a revision, read its model index, plan the download."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fakeimg_assets.sampling.download_plan import DownloadPlan, plan_download, sizes_from_siblings
from resources.hub import HubResource


@dataclass
class RemoteModel:
    info: Any
    revision: str
    model_index: dict[str, Any]
    plan: DownloadPlan


def fetch_plan(hub: HubResource, model_id: str, revision: str | None = None) -> RemoteModel:
    """Info (with file sizes) of one revision, its `model_index.json`, and the file plan.

    Only JSON is read here: a hostile repo is refused before any weights are fetched.
    """
    info = hub.model_info(model_id, revision=revision)
    sha = getattr(info, "sha", None)
    if not sha:
        raise ValueError(f"Hub returned no commit sha for {model_id!r} (revision {revision!r})")
    sizes = sizes_from_siblings(getattr(info, "siblings", None) or [])
    if "model_index.json" not in sizes:
        raise ValueError(
            f"{model_id}@{sha[:8]} has no model_index.json: not a diffusers pipeline repo "
            f"(files: {', '.join(sorted(sizes)[:8])})"
        )
    index_path = hub.download_file(model_id, "model_index.json", revision=sha)
    try:
        model_index = json.loads(index_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{model_id}@{sha[:8]}: model_index.json is not valid JSON: {exc}") from exc
    if not isinstance(model_index, dict):
        raise ValueError(f"{model_id}@{sha[:8]}: model_index.json is not a JSON object")
    return RemoteModel(info, sha, model_index, plan_download(model_index, sizes, model_id=model_id))
