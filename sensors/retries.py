"""Which failed models to sample again: those whose latest failure was transient.

Read from the Parquet files through the warehouse resource (never `warehouse.duckdb`, so
a user's open DuckDB CLI cannot block a tick). A model is re-requested when its latest
`model_failures` row is transient and no `images` row of it is newer than that failure;
each failure gets its own run key, so one failure is retried once, and a model that
failed transiently in `MAX_TRANSIENT_RUNS` runs since its last success is left alone
(logged) until someone looks. Permanent failures are never re-requested, nor is a
partition whose key is no Hub model id (an instance from before the crawl vetted ids may
hold one; its key must never reach a file name).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from fakeimg_assets.lib.paths import model_slug, partition_key_problem
from resources.warehouse import WarehouseResource

MAX_TRANSIENT_RUNS = 3  # runs that failed transiently since the last success, then stop


@dataclass(frozen=True)
class RetryDecision:
    """One model with a transient latest failure: re-request it, or why not."""

    model_id: str
    failed_at: dt.datetime
    failed_runs: int
    request: bool

    @property
    def run_key(self) -> str:
        """One key per failure: the daemon launches each at most once."""
        return f"sample:{self.model_id}:retry:{self.failed_at.isoformat()}"


def _last_success(warehouse: WarehouseResource, model_id: str) -> dt.datetime | None:
    """Newest `images.created_at` of the model's partition file (one small Parquet read)."""
    rows = warehouse.read_key("images", f"fake--{model_slug(model_id)}")
    if rows.height == 0:
        return None
    return rows["created_at"].max()  # type: ignore[return-value]


def transient_retries(
    warehouse: WarehouseResource,
    known: set[str],
    *,
    max_transient_runs: int = MAX_TRANSIENT_RUNS,
) -> list[RetryDecision]:
    """A decision for every partition whose latest failure is transient and unresolved."""
    if max_transient_runs < 1:
        raise ValueError(f"max_transient_runs must be >= 1, got {max_transient_runs}")
    failures = warehouse.read("model_failures")
    if failures.height == 0:
        return []
    valid = sorted(m for m in known if partition_key_problem(m) is None)  # never an invalid key
    failures = failures.filter(pl.col("model_id").is_in(valid)).sort("failed_at")
    decisions = []
    for (model_id,), rows in failures.group_by(["model_id"], maintain_order=True):
        latest = rows.row(rows.height - 1, named=True)
        if not latest["transient"]:  # permanent, or a row written before the flag existed
            continue
        since = _last_success(warehouse, model_id)
        if since is not None and since >= latest["failed_at"]:
            continue  # sampled again after the failure: nothing to retry
        recent = rows if since is None else rows.filter(pl.col("failed_at") > since)
        runs = recent.filter(pl.col("transient").fill_null(False))["dagster_run_id"].n_unique()
        decisions.append(
            RetryDecision(
                model_id=str(model_id),
                failed_at=latest["failed_at"],
                failed_runs=runs,
                request=runs < max_transient_runs,
            )
        )
    return decisions
