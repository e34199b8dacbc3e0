"""Publishing repos over time on the local Hub: a repo whose `.hub.json` has a future
`publish_at` does not exist for any client until then (404, not listed), and from then on
reads as created and last modified at that moment, like a repo just pushed to the Hub.

The freshness benchmark uses it to measure publish -> partition -> sampled -> evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from fakeimg_assets.lib.paths import validate_model_id
from fakeimg_assets.testbed.local_hub.repo_folders import HUB_META_FILE


def schedule_publication(root: Path | str, schedule: Mapping[str, datetime]) -> None:
    """Set `publish_at` for each `model_id -> when` under `root` (a served folder), dropping
    the repo's own created/modified times so it appears as new when published."""
    root = Path(root)
    for model_id, when in schedule.items():
        validate_model_id(model_id)
        if when.tzinfo is None:
            raise ValueError(f"publish time of {model_id} must be timezone-aware, got {when}")
        repo = root / model_id
        if not repo.is_dir():
            raise FileNotFoundError(f"no repo {model_id} under {root}")
        path = repo / HUB_META_FILE
        meta = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        if not isinstance(meta, dict):
            raise ValueError(f"{path} is not a JSON object")
        for key in ("created_at", "createdAt", "last_modified", "lastModified"):
            meta.pop(key, None)
        meta["publish_at"] = when.astimezone(UTC).isoformat().replace("+00:00", "Z")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        tmp.replace(path)
