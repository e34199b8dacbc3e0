"""How much of the Hub one crawl lists: a full sweep, or only the head of two sorted lists.

A full sweep lists every text-to-image diffusers model; it is the only way to see a repo
that turns public (or ungated) long after its upload, because its `created_at` and
`last_modified` stay old. Between sweeps an incremental crawl lists newest-first by
`created_at` down to the catalogue's newest upload, and by `last_modified` down to the
previous crawl, each minus an overlap, so a frequent crawl costs a page or two on any Hub.
Entries the listing refuses (`catalog/listing.py`) are kept in `CrawlResult.rejects`, once
each, and never become rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from fakeimg_assets.catalog.listing import ListingReject
from fakeimg_assets.lib.times import parse_time

CrawlMode = Literal["auto", "full", "incremental"]
MODES: tuple[str, ...] = ("auto", "full", "incremental")


@dataclass(frozen=True)
class CrawlState:
    """What the catalogue says about earlier crawls (from `hub_models` and its last event)."""

    newest_created_at: dt.datetime | None = None  # newest upload in the catalogue
    last_crawl_at: dt.datetime | None = None  # newest `last_seen_at`: the previous crawl
    last_full_sweep_at: dt.datetime | None = None  # start of the last complete full sweep
    catalog_size: int = 0


@dataclass
class CrawlResult:
    """Rows listed by one crawl, how, and whether the listing was complete."""

    mode: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = False  # a full sweep that reached the end of the list (no limit hit)
    passes: dict[str, int] = field(default_factory=dict)  # rows listed per sorted pass
    rejects: list[ListingReject] = field(default_factory=list)  # entries refused, once each
    _refused: set[ListingReject] = field(default_factory=set, repr=False)

    def refuse(self, reject: ListingReject) -> None:
        """Record a refused entry once, however many passes list it."""
        if reject not in self._refused:
            self._refused.add(reject)
            self.rejects.append(reject)


def choose_mode(
    requested: str, state: CrawlState, now: dt.datetime, full_sweep_hours: float
) -> str:
    """`full` or `incremental`; `auto` sweeps fully when no sweep is younger than the period."""
    if requested not in MODES:
        raise ValueError(f"crawl mode must be one of {list(MODES)}, got {requested!r}")
    if full_sweep_hours <= 0:
        raise ValueError(f"full_sweep_hours must be > 0, got {full_sweep_hours}")
    if requested != "auto":
        if requested == "incremental" and state.catalog_size == 0:
            return "full"  # nothing to be incremental from
        return requested
    if state.catalog_size == 0 or state.last_full_sweep_at is None:
        return "full"
    due = state.last_full_sweep_at + dt.timedelta(hours=full_sweep_hours)
    return "full" if now >= due else "incremental"


def crawl_full(hub: Any, *, sort: str = "created_at", limit: int | None = None) -> CrawlResult:
    """Every model the Hub lists (or the first `limit` entries); complete only without a
    limit, or when the listing ended before it."""
    result = CrawlResult("full")
    result.rows = list(
        hub.list_text_to_image_models(sort=sort, limit=limit or None, on_reject=result.refuse)
    )
    result.complete = not limit or len(result.rows) + len(result.rejects) < limit
    result.passes = {sort: len(result.rows)}
    return result


def _head(
    hub: Any,
    sort: str,
    column: str,
    since: dt.datetime | None,
    limit: int | None,
    result: CrawlResult,
) -> list[dict[str, Any]]:
    """Rows of one newest-first list until `column` drops below `since` (or `limit`)."""
    out: list[dict[str, Any]] = []
    listing = hub.list_text_to_image_models(sort=sort, limit=limit or None, on_reject=result.refuse)
    for row in listing:
        when = row.get(column)
        if since is not None and when is not None and when < since:
            break  # the list is sorted: everything after is older still
        out.append(row)
    return out


def crawl_incremental(
    hub: Any, state: CrawlState, *, overlap_hours: float = 24.0, limit: int | None = None
) -> CrawlResult:
    """The heads of the `created_at` and `last_modified` lists since the previous crawl.

    New uploads come from the first, repos with new commits (and metadata that moved their
    `last_modified`) from the second; repos seen in both are listed once.
    """
    if overlap_hours < 0:
        raise ValueError(f"overlap_hours must be >= 0, got {overlap_hours}")
    overlap = dt.timedelta(hours=overlap_hours)
    created_since = state.newest_created_at - overlap if state.newest_created_at else None
    modified_since = state.last_crawl_at - overlap if state.last_crawl_at else None
    by_id: dict[str, dict[str, Any]] = {}
    result = CrawlResult("incremental")
    for sort, column, since in (
        ("created_at", "created_at", created_since),
        ("last_modified", "last_modified", modified_since),
    ):
        rows = _head(hub, sort, column, since, limit, result)
        result.passes[sort] = len(rows)
        for row in rows:
            by_id.setdefault(row["model_id"], row)
    result.rows = list(by_id.values())
    return result


def state_from_catalog(rows: list[dict[str, Any]], last_full_sweep_at: object) -> CrawlState:
    """The crawl state of a catalogue (`hub_models` rows) and the last sweep's start time."""
    created = [r["created_at"] for r in rows if r.get("created_at") is not None]
    seen = [r["last_seen_at"] for r in rows if r.get("last_seen_at") is not None]
    return CrawlState(
        newest_created_at=max(created) if created else None,
        last_crawl_at=max(seen) if seen else None,
        last_full_sweep_at=parse_time(last_full_sweep_at),
        catalog_size=len(rows),
    )
