"""Asset checks of per-model assets: quarantine of degenerate generators."""


import dagster as dg

from fakeimg_assets.lib.metadata_table import readable
from fakeimg_assets.quality.stats import QuarantinePolicy

NOT_DEGENERATE = "not_degenerate"
_POLICY = QuarantinePolicy()
NOT_DEGENERATE_SPEC = dg.AssetCheckSpec(
    NOT_DEGENERATE,
    asset="image_quality_stats",
    description=(
        "Quarantine (WARN): fails when a model's images are degenerate, i.e. over "
        f"{_POLICY.max_black_fraction:.0%} black, over {_POLICY.max_constant_fraction:.0%} "
        f"constant, over {_POLICY.max_duplicate_fraction:.0%} near-duplicates, fewer than "
        f"{_POLICY.min_images} image, or a file that fails its sha256. A quarantined model "
        "stays in the warehouse (model_stats.quarantined, with the reason) but never "
        "enters a detector split. Also WARN for a refused model, which has no images to "
        "judge (the refusal's reason in the description)."
    ),
)


def not_degenerate_result(agg: dict) -> dg.AssetCheckResult:
    """WARN, not ERROR: a quarantined model is data (excluded from training), not a crash."""
    return dg.AssetCheckResult(
        check_name=NOT_DEGENERATE,
        asset_key="image_quality_stats",
        passed=not agg["quarantined"],
        severity=dg.AssetCheckSeverity.WARN,
        description=agg["quarantine_reason"] or "images look like a working generator",
        metadata={
            "black_fraction": readable(float(agg["black_fraction"])),
            "constant_fraction": readable(float(agg["constant_fraction"])),
            "duplicate_fraction": readable(float(agg["duplicate_fraction"])),
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
