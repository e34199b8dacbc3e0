"""Which catalogued models the sensor adds next: the backlog, in a stable order.

The backlog is every eligible `hub_models` row that is not a partition yet, a set
difference and not a time watermark, so a repo that reaches the catalogue late (made
public or ungated after its upload) is still added. It is served first-seen first, then
newest upload first, then by id: a repo's place in the queue never moves back as new
repos arrive, so each is added within ceil(place / batch) ticks however large the Hub.
A row whose id is no Hub model id (a catalogue written before the crawl vetted ids) is
never queued: it is returned apart, for the sensor to log, and the next crawl moves it to
`crawl_rejects`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from fakeimg_assets.catalog.selection import SelectionPolicy, rejection_reason
from fakeimg_assets.lib.paths import model_id_problem

_POLICY_COLUMNS = ["model_id", "private", "gated", "library_name", "pipeline_tag", "author"]
_ORDER_COLUMNS = ["first_seen_at", "created_at"]
_FAR_FUTURE = dt.datetime.max.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class BacklogTick:
    """One tick's decision: the models to add now and what is left for later ticks."""

    add: list[str]
    pending_after: int  # eligible, not a partition, not added this tick
    catalog_rows: int
    invalid: list[str] = field(default_factory=list)  # catalogued ids that are no Hub id


def invalid_ids(catalog: pl.DataFrame, known: Iterable[str]) -> list[str]:
    """Catalogued ids, not partitions, that are no Hub model id, sorted (never queued)."""
    if "model_id" not in catalog.columns:
        return []
    todo = catalog.filter(~pl.col("model_id").is_in(list(set(known))))
    ids = todo["model_id"].unique().to_list()
    return sorted(str(m) for m in ids if model_id_problem(m) is not None)


def backlog(catalog: pl.DataFrame, known: Iterable[str], policy: SelectionPolicy) -> list[str]:
    """Eligible catalogued ids that are not partitions, in the queue's stable order (an
    invalid id is never eligible: `rejection_reason`)."""
    missing = [c for c in [*_POLICY_COLUMNS, *_ORDER_COLUMNS] if c not in catalog.columns]
    if missing:
        raise ValueError(f"hub_models catalogue lacks columns {missing}")
    known_set = set(known)
    todo = catalog.filter(~pl.col("model_id").is_in(list(known_set)))
    if todo.height == 0:
        return []
    todo = todo.unique("model_id", keep="last", maintain_order=True)
    rows = todo.select([*_POLICY_COLUMNS, *_ORDER_COLUMNS]).to_dicts()
    eligible = [r for r in rows if rejection_reason(r, policy) is None]

    def key(row: dict) -> tuple:
        created = row["created_at"]
        newest_first = -created.timestamp() if created is not None else float("inf")
        return (row["first_seen_at"] or _FAR_FUTURE, newest_first, row["model_id"])

    return [r["model_id"] for r in sorted(eligible, key=key)]


def plan_tick(
    catalog: pl.DataFrame, known: Iterable[str], policy: SelectionPolicy, batch: int
) -> BacklogTick:
    """At most `batch` models of the backlog, in order; the rest wait for later ticks."""
    if batch < 1:
        raise ValueError(f"batch (partitions added per tick) must be >= 1, got {batch}")
    known = set(known)
    queue = backlog(catalog, known, policy)
    return BacklogTick(
        add=queue[:batch], pending_after=max(len(queue) - batch, 0), catalog_rows=catalog.height,
        invalid=invalid_ids(catalog, known),
    )
