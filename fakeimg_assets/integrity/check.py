"""The `files_consistent` asset check of `sampled_images`, one partition at a time."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from fakeimg_assets.integrity.verify import verify

FILES_CONSISTENT = "files_consistent"
FILES_CONSISTENT_SPEC = dg.AssetCheckSpec(
    FILES_CONSISTENT,
    asset="sampled_images",
    blocking=True,
    description="Every image row's file exists with its sha256; no orphan files, no leftovers.",
)


def files_consistent_result(home: Path, kind: str, name: str) -> dg.AssetCheckResult:
    """ERROR (blocking downstream) when the partition's rows and files disagree."""
    report = verify(home, kind=kind, name=name)
    return dg.AssetCheckResult(
        check_name=FILES_CONSISTENT,
        asset_key="sampled_images",
        passed=report.ok,
        severity=dg.AssetCheckSeverity.ERROR,
        description="rows and files agree" if report.ok else "; ".join(
            p.line() for p in report.problems[:5]),
        metadata={
            "n_rows": report.n_rows,
            "n_files_checked": report.n_files_checked,
            "n_problems": len(report.problems),
        },
    )
