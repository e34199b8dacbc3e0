"""The Hub census (`hub_census`, in `assets.py`): what share of the crawled Hub the dataset
covers, and what holds the rest back.

Every crawled text-to-image repo is counted once, by kind ('pipeline', 'lora',
'single_file', 'other') and by pipeline class (pipelines) or base model (adapters and
single-file checkpoints). The kind is the one the repo was planned as (`model_metadata`),
else what its Hub tags say (`diffusers:<Class>`, `lora`, `base_model:adapter:...`,
`base_model:...`). Per group: repos, eligible (not refused for good and passing the
selection policy), sampled (have images, quarantined ones included), quarantined, failed
(latest attempt failed, no images), `coverage` = sampled / eligible, and `held_back`, a
JSON count of the reasons repos are out (`selection: gated`, `plan: UnsupportedRepoError`).
Rows are keyed by the crawl they describe, so re-materializing after sampling updates that
crawl's census in place.
"""

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from fakeimg_assets.catalog.selection import SelectionPolicy, rejection_reason
from fakeimg_assets.sampling.repo_kind import KINDS


def kind_from_tags(tags: Iterable[str] | None) -> tuple[str, str | None, str | None]:
    """`(kind, pipeline_class, base_model)` from Hub tags alone (repos never planned)."""
    tags = [str(t) for t in tags or []]
    cls = next((t.split(":", 1)[1] for t in tags if t.startswith("diffusers:")), None)
    adapter = next((t.split(":", 2)[2] for t in tags if t.startswith("base_model:adapter:")), None)
    if adapter or any(t.lower() == "lora" for t in tags):
        return "lora", None, adapter or _plain_base(tags)
    if cls:
        return "pipeline", cls, None
    base = _plain_base(tags)
    return ("single_file", None, base) if base else ("other", None, None)


def _plain_base(tags: list[str]) -> str | None:
    """The base of a `base_model:<relation>:<id>` or `base_model:<id>` tag."""
    for t in tags:
        if t.startswith("base_model:"):
            rest = t.split(":", 1)[1]
            return rest.split(":", 1)[1] if ":" in rest else rest
    return None


def classify_model(
    hub_row: Mapping[str, Any], meta: Mapping[str, Any] | None
) -> tuple[str, str | None, str | None]:
    """The census group of one crawled repo: as planned if it was, else from its tags."""
    if meta is not None:
        kind = meta.get("kind") or "pipeline"
        base = None if kind == "pipeline" else meta.get("base_model")
        return kind, meta.get("pipeline_class"), base
    return kind_from_tags(hub_row.get("tags"))


def census_rows(
    models: list[dict],
    metadata: list[dict],
    n_images: Mapping[str, int],
    quarantined: Iterable[str],
    failures: list[dict],
    *,
    crawl_id: str,
    crawled_at: Any,
    policy: SelectionPolicy | None = None,
) -> list[dict]:
    """One row per (kind, pipeline_class, base_model) group over the crawled repos."""
    policy = policy or SelectionPolicy()
    meta_by = {m["model_id"]: m for m in metadata}
    bad = set(quarantined)
    latest: dict[str, dict] = {}
    for f in sorted(failures, key=lambda f: str(f.get("failed_at"))):
        latest[f["model_id"]] = f
    groups: dict[tuple, Counter] = {}
    held: dict[tuple, Counter] = {}
    keys = {r["model_id"]: classify_model(r, meta_by.get(r["model_id"])) for r in models}
    class_of = {m: k[1] for m, k in keys.items() if k[0] == "pipeline" and k[1]}
    for row in models:
        model_id = row["model_id"]
        kind, cls, base = keys[model_id]
        key = (kind, cls or class_of.get(base or ""), base)  # an adapter's class: its base's
        c = groups.setdefault(key, Counter())
        reasons = held.setdefault(key, Counter())
        c["n_models"] += 1
        sampled = n_images.get(model_id, 0) > 0
        failure = None if sampled else latest.get(model_id)
        rejected = rejection_reason(row, policy)
        if rejected:
            reasons[f"selection: {rejected}"] += 1
        elif failure is not None and not failure.get("transient"):
            reasons[f"{failure.get('stage')}: {failure.get('error_type')}"] += 1
        else:
            c["n_eligible"] += 1
        c["n_sampled"] += sampled
        c["n_quarantined"] += sampled and model_id in bad
        c["n_failed"] += failure is not None
    out = []
    order = {k: i for i, k in enumerate(KINDS)}
    for key in sorted(groups, key=lambda k: (order.get(k[0], 9), str(k[1]), str(k[2]))):
        c = groups[key]
        out.append({
            "crawl_id": crawl_id,
            "crawled_at": crawled_at,
            "kind": key[0],
            "pipeline_class": key[1],
            "base_model": key[2],
            **{n: int(c[n]) for n in (
                "n_models", "n_eligible", "n_sampled", "n_quarantined", "n_failed")},
            "coverage": c["n_sampled"] / c["n_eligible"] if c["n_eligible"] else None,
            "held_back": json.dumps(dict(sorted(held[key].items()))),
        })
    return out
