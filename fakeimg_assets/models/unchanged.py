"""An identical request does no work: `sampled_images` finds its images already drawn.

A partition's latest `sampled_images` materialization records what its images were drawn
from (`fingerprint`): the model's revision and base revision, the resolved output settings,
a hash of the prompt pool and the asset's code version. A new run asking for the same
fingerprint, whose rows and files still agree on disk (the `files_consistent` check's own
verification), materializes as `outcome` 'unchanged' with the same data version and
metadata, without downloading or sampling; Dagster sees no new data, so nothing downstream
turns stale. `SamplingConfig.force` samples anyway.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from fakeimg_assets.integrity.verify import verify
from fakeimg_assets.lib.paths import sha256_bytes
from fakeimg_assets.models.refusals import OUTCOME, SAMPLED, UNCHANGED
from fakeimg_assets.models.sampling_settings import OUTPUT_FIELDS

DATA_VERSION_TAG = "dagster/data_version"  # where Dagster keeps a materialization's version
FINGERPRINT = "fingerprint"


def prompts_sha(prompts: list[tuple[object, object]]) -> str:
    """A short hash of the prompt pool, `(prompt_id, prompt)` pairs in order."""
    return sha256_bytes(json.dumps([list(p) for p in prompts]).encode())[:16]


def fingerprint(*, revision: str, base_revision: str | None, settings: Mapping[str, object],
                prompts: str, code_version: str | None) -> dict[str, object]:  # fmt: skip
    """What a partition's images are drawn from, as recorded on its materialization."""
    return {
        "revision": revision,
        "base_revision": base_revision or "",
        **{k: settings.get(k) for k in OUTPUT_FIELDS},
        "prompts_sha": prompts,
        "code_version": code_version or "",
    }


def unchanged_since(instance: dg.DagsterInstance, partition: str, wanted: Mapping[str, object],
                    home: Path, slug: str):  # noqa: ANN201 - the previous EventLogRecord or None
    """The partition's latest materialization when its images were drawn from `wanted` and
    its rows and files still agree; None when anything differs (then sample)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("sampled_images"),
                              asset_partitions=[partition]), limit=1,
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    mat = records[0].asset_materialization
    meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    if meta.get(OUTCOME) not in (SAMPLED, UNCHANGED) or meta.get(FINGERPRINT) != dict(wanted):
        return None
    if not (mat.tags or {}).get(DATA_VERSION_TAG):
        return None
    report = verify(home, kind="fake", name=slug)
    if not report.ok or report.n_rows != meta.get("n_images") or report.n_rows == 0:
        return None
    return records[0]


def unchanged_result(record, *, seconds: float,  # noqa: ANN001 - the previous EventLogRecord
                     check: dg.AssetCheckResult) -> dg.MaterializeResult:  # fmt: skip
    """The previous materialization again, as 'unchanged': its metadata (settings, preview,
    timings of the run that sampled) and data version, with this run's time."""
    mat = record.asset_materialization
    return dg.MaterializeResult(
        metadata={**mat.metadata, OUTCOME: UNCHANGED, "unchanged_since_run": record.run_id,
                  "total_seconds": float(round(seconds, 3))},
        data_version=dg.DataVersion(mat.tags[DATA_VERSION_TAG]),
        check_results=[check],
    )


__all__ = ["FINGERPRINT", "fingerprint", "prompts_sha", "unchanged_result", "unchanged_since"]
