"""Which partitions `fakeimg run` samples: only those missing or stale, each with its reason.

Staleness is Dagster's own wherever Dagster can see it: every asset carries a
`code_version` (a `CODE_VERSION` constant per asset module, bumped when the module's logic
changes what it writes) and content-based `DataVersion`s (model revision, image hashes,
prompt pool), so Dagster's stale-status resolver says when a partition's code or upstream
data changed. Two inputs Dagster does not version are compared here: the Hub revision the
crawl just saw against the one the partition was sampled at, and the sampling config
recorded on the `sampled_images` materialization (`sampling_config` metadata) against the
one asked for (only fields that change what is drawn: `OUTPUT_FIELDS`).

A partition whose latest attempt failed is retried when the failure was transient (or left
no `model_failures` row), and left alone when it failed permanently. A refused partition
(`models/refusals.py`: materialized, its latest `sampled_images` metadata says `outcome`
'refused') is left alone too, "refused for good: <reason>". Either is tried again when the
repo changed on the Hub since (`last_modified` after the refusal or failure) or the sampling
code version differs from the run's (`CODE_VERSION_TAG`). `--force` samples everything
selected.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import dagster as dg
import polars as pl

from fakeimg_assets.models.refusals import OUTCOME, REFUSED, REFUSED_REASON
from fakeimg_assets.models.sampling_settings import OUTPUT_FIELDS, resolve
from fakeimg_assets.partitions import hub_models_partitions

SAMPLE_ASSETS = ("model_metadata", "sampled_images", "image_quality_stats")
CODE_VERSION_TAG = "fakeimg/code_version"  # on runs `fakeimg run` launches for a partition


@dataclass(frozen=True)
class PartitionDecision:
    """Sample `model_id` or not, and why (printed by `fakeimg run`)."""

    model_id: str
    sample: bool
    reason: str


def sample_code_version(asset_graph) -> str:  # noqa: ANN001 - a Dagster BaseAssetGraph
    """The code versions of the per-model assets, joined: what a sampling run ran with."""
    return ",".join(
        f"{name}={asset_graph.get(dg.AssetKey(name)).code_version}" for name in SAMPLE_ASSETS
    )


def output_config(sampling_config: Mapping[str, object]) -> dict[str, object]:
    """The sampling settings that change what is drawn, empty ones at the code defaults."""
    return resolve({k: sampling_config.get(k) for k in OUTPUT_FIELDS}, {})


def _latest_record(instance: dg.DagsterInstance, asset: str, partition: str):  # noqa: ANN202
    """The latest materialization's event record of one partition, or None."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]),
        limit=1,
    ).records
    return records[0] if records and records[0].asset_materialization is not None else None


def _metadata(record) -> dict:  # noqa: ANN001 - an EventLogRecord or None
    if record is None:
        return {}
    return {k: getattr(v, "value", v) for k, v in record.asset_materialization.metadata.items()}


def _quarantined_since_sampled(instance: dg.DagsterInstance, model_id: str,
                               failure: dict | None) -> str | None:
    """Why to re-sample a partition whose Parquet `fakeimg verify --repair` quarantined
    after its last `sampled_images` materialization (Dagster still calls it materialized)."""
    if not failure or failure.get("stage") != "storage" or failure.get("failed_at") is None:
        return None
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("sampled_images"),
                              asset_partitions=[model_id]), limit=1,
    ).records
    if records and records[0].timestamp >= failure["failed_at"].timestamp():
        return None
    return f"damaged Parquet quarantined by fakeimg verify --repair ({failure['message'][:80]})"


def _config_change(recorded: object, wanted: dict[str, object]) -> str | None:
    """'images_per_model 2 -> 3' for every output field that differs, else None."""
    if not isinstance(recorded, Mapping):
        return "no sampling config recorded on its last materialization"
    have = output_config({k: v for k, v in recorded.items() if k in OUTPUT_FIELDS})
    diffs = [f"{k} {have[k]!r} -> {wanted[k]!r}" for k in OUTPUT_FIELDS if have[k] != wanted[k]]
    return "sampling config changed: " + ", ".join(diffs) if diffs else None


class _Staleness:
    """Dagster's stale-status resolver over this instance and asset graph (the one the UI
    uses; it lives in a private module, so it is wrapped here and nowhere else)."""

    def __init__(self, instance: dg.DagsterInstance, asset_graph) -> None:  # noqa: ANN001
        from dagster._core.asset_graph_view.asset_graph_view import (
            AssetGraphView,
            TemporalContext,
        )
        from dagster._core.definitions.data_version import CachingStaleStatusResolver
        from dagster._time import get_current_datetime

        view = AssetGraphView(
            temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
            instance=instance,
            asset_graph=asset_graph,
        )
        self.resolver = CachingStaleStatusResolver(instance, asset_graph, loading_context=view)

    def causes(self, asset: str, partition: str | None = None) -> list[str]:
        """Root causes in words, e.g. 'sampled_images[m] has a new code version'."""
        from dagster._core.definitions.data_version import StaleStatus

        key = dg.AssetKey(asset)
        status = self.resolver.get_status(key, partition)
        if status == StaleStatus.MISSING:
            return [f"{asset} never materialized"]
        if status == StaleStatus.FRESH:
            return []
        out = []
        for cause in self.resolver.get_stale_root_causes(key, partition):
            where = cause.key.asset_key.to_user_string()
            out.append(f"{where} {cause.reason}")
        return sorted(set(out)) or [f"{asset} is stale"]


def _latest_failures(failures: pl.DataFrame) -> dict[str, dict]:
    if failures.height == 0:
        return {}
    ordered = failures.sort("failed_at", nulls_last=False)
    return {r["model_id"]: r for r in ordered.iter_rows(named=True)}  # the last row wins


def _for_good(
    instance: dg.DagsterInstance,
    model_id: str,
    verdict: str,
    at: object,
    run_id: str | None,
    catalog_row: Mapping[str, object],
    code_version: str,
) -> PartitionDecision:
    """Skip a partition refused (or failed) for good at `at` by run `run_id`, unless the
    repo changed on the Hub since or the run sampled under another code version."""
    modified = catalog_row.get("last_modified")
    if isinstance(modified, dt.datetime) and isinstance(at, dt.datetime) and modified > at:
        return PartitionDecision(model_id, True, "repo changed on the Hub since its refusal")
    run = instance.get_run_by_id(run_id) if run_id else None
    old = run.tags.get(CODE_VERSION_TAG) if run is not None else None
    if old is not None and old != code_version:
        return PartitionDecision(model_id, True, f"code version {old} -> {code_version}")
    return PartitionDecision(model_id, False, verdict)


def _failed_decision(
    instance: dg.DagsterInstance,
    model_id: str,
    failure: dict | None,
    catalog_row: Mapping[str, object],
    code_version: str,
) -> PartitionDecision:
    if failure is None:
        return PartitionDecision(model_id, True, "last attempt failed (no failure recorded)")
    message = str(failure.get("message") or failure.get("error_type") or "failed").splitlines()[0]
    if failure.get("transient") or failure.get("transient") is None:
        return PartitionDecision(model_id, True, f"last attempt failed (transient): {message}")
    # a row from before refusals materialized (`refused` null) was a refusal in all but name
    verdict = "failed for good" if failure.get("refused") is False else "refused for good"
    return _for_good(instance, model_id, f"{verdict}: {message}", failure.get("failed_at"),
                     failure.get("dagster_run_id"), catalog_row, code_version)


def _refused_decision(
    instance: dg.DagsterInstance,
    model_id: str,
    record,  # noqa: ANN001 - the refused `sampled_images` materialization's EventLogRecord
    catalog_row: Mapping[str, object],
    code_version: str,
) -> PartitionDecision:
    reason = str(_metadata(record).get(REFUSED_REASON) or "refused")
    at = dt.datetime.fromtimestamp(record.timestamp, dt.UTC)
    return _for_good(instance, model_id, f"refused for good: {reason}", at, record.run_id,
                     catalog_row, code_version)


def plan_partitions(
    instance: dg.DagsterInstance,
    asset_graph,  # noqa: ANN001 - a Dagster BaseAssetGraph (defs.resolve_asset_graph())
    models: Iterable[str],
    *,
    sampling_config: Mapping[str, object],
    catalog: Mapping[str, Mapping[str, object]],
    failures: pl.DataFrame,
    force: bool = False,
) -> list[PartitionDecision]:
    """One decision per selected model, in order: sample it (missing, stale, failed,
    forced) or skip it (up to date, refused or failed for good), with the reason."""

    models = list(models)
    if force:
        return [PartitionDecision(m, True, "forced (--force)") for m in models]
    wanted = output_config(sampling_config)
    code_version = sample_code_version(asset_graph)
    status = {
        a: instance.get_status_by_partition(dg.AssetKey(a), models, hub_models_partitions) or {}
        for a in SAMPLE_ASSETS
    }
    latest_failure = _latest_failures(failures)
    staleness = _Staleness(instance, asset_graph)
    failed = dg.AssetPartitionStatus.FAILED
    decisions = []
    for m in models:
        if any(status[a].get(m) == failed for a in SAMPLE_ASSETS):
            row = catalog.get(m, {})
            decisions.append(_failed_decision(instance, m, latest_failure.get(m), row, code_version))
            continue
        if any(status[a].get(m) is None for a in SAMPLE_ASSETS):
            decisions.append(PartitionDecision(m, True, "never sampled"))
            continue
        record = _latest_record(instance, "sampled_images", m)
        meta = _metadata(record)
        if meta.get(OUTCOME) == REFUSED:
            decisions.append(_refused_decision(instance, m, record, catalog.get(m, {}),
                                               code_version))
            continue
        damaged = _quarantined_since_sampled(instance, m, latest_failure.get(m))
        if damaged:
            decisions.append(PartitionDecision(m, True, damaged))
            continue
        sha = catalog.get(m, {}).get("sha")
        if sha and meta.get("revision") and sha != meta["revision"]:
            decisions.append(
                PartitionDecision(m, True, f"new Hub revision {meta['revision'][:10]} -> {sha[:10]}")
            )
            continue
        change = _config_change(meta.get("sampling_config"), wanted)
        if change:
            decisions.append(PartitionDecision(m, True, change))
            continue
        causes = [c for a in SAMPLE_ASSETS for c in staleness.causes(a, m)]
        reason = "; ".join(dict.fromkeys(causes))
        decisions.append(PartitionDecision(m, bool(causes), reason or "up to date"))
    return decisions


def stale_assets(
    instance: dg.DagsterInstance, asset_graph, assets: Iterable[str]  # noqa: ANN001
) -> dict[str, str]:
    """Unpartitioned assets among `assets` that are missing or stale -> why, in words."""
    staleness = _Staleness(instance, asset_graph)
    return {a: "; ".join(c) for a in assets if (c := staleness.causes(a))}


def summarize(decisions: list[PartitionDecision]) -> str:
    """'sampling 2 of 5 partitions; skipped 3: 3 up to date' (reasons counted)."""
    skipped = [d for d in decisions if not d.sample]
    counts: dict[str, int] = {}
    for d in skipped:
        key = next((v for v in ("refused for good", "failed for good") if d.reason.startswith(v)),
                   d.reason)
        counts[key] = counts.get(key, 0) + 1
    why = ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    n = len(decisions) - len(skipped)
    return f"sampling {n} of {len(decisions)} partitions; skipped {len(skipped)}" + (
        f": {why}" if why else ""
    ) + (" (--force re-samples everything)" if skipped else "")


def describe(decisions: list[PartitionDecision]) -> list[str]:
    """One line per decision for the log."""
    return [f"  {'sample' if d.sample else 'skip  '} {d.model_id}: {d.reason}" for d in decisions]


__all__ = [
    "CODE_VERSION_TAG",
    "OUTPUT_FIELDS",
    "PartitionDecision",
    "describe",
    "output_config",
    "plan_partitions",
    "sample_code_version",
    "stale_assets",
    "summarize",
]
