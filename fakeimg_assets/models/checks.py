"""Asset checks of per-model assets: quarantine of degenerate generators."""


import dagster as dg

NOT_DEGENERATE = "not_degenerate"


def not_degenerate_result(agg: dict) -> dg.AssetCheckResult:
    """WARN, not ERROR: a quarantined model is data (excluded from training), not a crash."""
    return dg.AssetCheckResult(
        check_name=NOT_DEGENERATE,
        asset_key="image_quality_stats",
        passed=not agg["quarantined"],
        severity=dg.AssetCheckSeverity.WARN,
        description=agg["quarantine_reason"] or "images look like a working generator",
        metadata={
            "black_fraction": float(agg["black_fraction"]),
            "constant_fraction": float(agg["constant_fraction"]),
            "duplicate_fraction": float(agg["duplicate_fraction"]),
            "n_images": int(agg["n_images"]),
        },
    )


def refused_check_result(reason: str) -> dg.AssetCheckResult:
    """A refused model has no images to judge: WARN, naming the refusal."""
    return dg.AssetCheckResult(
        check_name=NOT_DEGENERATE,
        asset_key="image_quality_stats",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"no images to judge: the model was refused ({reason})",
        metadata={"outcome": "refused", "n_images": 0},
    )
