"""Refusals are outcomes: a model the platform declines by design materializes as 'refused'.

A per-model step that raises one of the platform's own permanent errors (a `FakeimgError`
that is not transient: an unsafe or unsupported repo, a missing base, a file over a limit,
weights that do not match their listing or their config, a lying endpoint) has *decided*
about the repo; it did not break. Its `model_failures` row is still written (the history of
attempts, `refused` = true), and then the asset materializes with metadata `outcome` =
'refused' and `refused_reason` (one line: the asset, the stage, the error) and writes no
data rows. Anything else (a bug, an OOM, a missing upstream row) stays a failed step.

Downstream per-model assets follow their upstream: when the latest materialization of the
partition's upstream asset says 'refused', they materialize as refused with the same reason,
so `sampled_images` (the asset the contract names) always carries the verdict, whichever
step made it. Successful materializations say `outcome` 'ok' ('sampled' for new images,
'unchanged' when an identical request found them already on disk).
"""

from __future__ import annotations

import dagster as dg

from fakeimg_assets.lib.errors import FakeimgError
from fakeimg_assets.lib.paths import sha256_bytes
from fakeimg_assets.lib.retry import is_transient

OUTCOME = "outcome"
REFUSED_REASON = "refused_reason"
REFUSED = "refused"
OK = "ok"
SAMPLED = "sampled"
UNCHANGED = "unchanged"
MAX_REASON = 300  # characters of `refused_reason`: one readable line


def is_refusal(exc: BaseException) -> bool:
    """True for a permanent error of the platform's own taxonomy (a decision about the
    repo); False for anything else, a transient error included."""
    return isinstance(exc, FakeimgError) and not is_transient(exc)


def refusal_reason(asset: str, stage: str, exc: BaseException) -> str:
    """"model_metadata refused at stage 'plan': UnsafeRepoError: ..." on one line."""
    message = " ".join((str(exc) or type(exc).__name__).split())
    line = f"{asset} refused at stage '{stage}': {type(exc).__name__}: {message}"
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 3] + "..."


def latest_metadata(instance: dg.DagsterInstance, asset: str, partition: str) -> dict:
    """The plain values of the latest materialization's metadata of one partition ({} if
    it was never materialized)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]),
        limit=1,
    ).records
    if not records or records[0].asset_materialization is None:
        return {}
    return {k: getattr(v, "value", v) for k, v in records[0].asset_materialization.metadata.items()}


def upstream_refusal(context: dg.AssetExecutionContext, upstream: str) -> str | None:
    """The reason the partition's latest `upstream` materialization refused the model, or
    None when it did not (or never materialized)."""
    meta = latest_metadata(context.instance, upstream, context.partition_key)
    if meta.get(OUTCOME) != REFUSED:
        return None
    return str(meta.get(REFUSED_REASON) or f"{upstream} refused the model")


def refused_metadata(reason: str) -> dict[str, object]:
    """Materialization metadata of a refused partition: the verdict, and no rows."""
    return {
        OUTCOME: REFUSED,
        REFUSED_REASON: reason,
        "dagster/partition_row_count": 0,
    }


def refused_version(reason: str) -> dg.DataVersion:
    """The same refusal gives the same data version (nothing downstream turns stale)."""
    return dg.DataVersion("refused-" + sha256_bytes(reason.encode())[:16])


__all__ = [
    "OK",
    "OUTCOME",
    "REFUSED",
    "REFUSED_REASON",
    "SAMPLED",
    "UNCHANGED",
    "is_refusal",
    "latest_metadata",
    "refusal_reason",
    "refused_metadata",
    "refused_version",
    "upstream_refusal",
]
