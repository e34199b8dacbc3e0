"""Which crawled models become partitions: a pure, tested policy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fakeimg_assets.lib.paths import model_id_problem


@dataclass(frozen=True)
class SelectionPolicy:
    """Models worth sampling: public, ungated (unless we hold a token), diffusers text-to-image."""

    allow_gated: bool = False
    library_name: str = "diffusers"
    pipeline_tag: str = "text-to-image"
    exclude_authors: tuple[str, ...] = ()


def rejection_reason(row: dict, policy: SelectionPolicy) -> str | None:
    """Why a `hub_models` row is not selected, or None if it is.

    An id that is no Hub model id is never selected (a catalogue written before the crawl
    vetted ids may hold one; it must never become a partition or a path)."""
    problem = model_id_problem(row.get("model_id"))
    if problem is not None:
        return f"invalid model id ({problem})"
    if row.get("private"):
        return "private"
    gated = str(row.get("gated") or "false").lower()
    if gated not in ("false", "none", "") and not policy.allow_gated:
        return f"gated ({gated})"
    if row.get("library_name") and row["library_name"] != policy.library_name:
        return f"library {row['library_name']!r}"
    if row.get("pipeline_tag") and row["pipeline_tag"] != policy.pipeline_tag:
        return f"pipeline_tag {row['pipeline_tag']!r}"
    if row.get("author") in policy.exclude_authors:
        return f"author {row['author']!r} excluded"
    return None


def select_models(
    rows: Iterable[dict], known: Iterable[str], policy: SelectionPolicy, limit: int | None = None
) -> list[str]:
    """New model ids to add, in the order given (newest first from the crawl), deduplicated."""
    seen = set(known)
    out: list[str] = []
    for row in rows:
        model_id = row["model_id"]
        if model_id in seen or rejection_reason(row, policy):
            continue
        seen.add(model_id)
        out.append(model_id)
        if limit is not None and len(out) >= limit:
            break
    return out


def merge_catalog(previous: list[dict], crawled: list[dict], now: object) -> list[dict]:
    """Upsert a crawl into the catalog: keep `first_seen_at`, refresh everything else."""
    by_id = {r["model_id"]: dict(r) for r in previous}
    for row in crawled:
        old = by_id.get(row["model_id"])
        merged = {**(old or {}), **row}
        merged["first_seen_at"] = (old or {}).get("first_seen_at") or now
        merged["last_seen_at"] = now
        by_id[row["model_id"]] = merged
    return sorted(by_id.values(), key=lambda r: r["model_id"])
