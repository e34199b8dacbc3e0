"""`shortcut_audit`: a metadata-only classifier must not tell fake from real before training.

Its blocking check `no_metadata_shortcut` fails when the grouped cross-validated AUC of the
`metadata` feature set exceeds the threshold (0.65), which skips `detector` in the same run
and shows the AUC, its interval and the features that give the classes away in the UI.
"""


import json

import dagster as dg
import numpy as np

from fakeimg_assets.audit.classify import CLASSIFIERS, audit_score, top_features
from fakeimg_assets.audit.features import FEATURE_SETS, feature_matrix, file_features
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import ImageStoreResource, WarehouseResource

CODE_VERSION = "1"  # bump when a change alters what this asset writes (marks it stale)

CHECK_NAME = "no_metadata_shortcut"
BLOCKING_FEATURE_SET = "metadata"
DEFAULT_THRESHOLD = 0.65


class AuditConfig(dg.Config):
    """At most `max_images_per_label` images per label (seeded sample) are read."""

    threshold: float = DEFAULT_THRESHOLD
    max_images_per_label: int = 1000
    seed: int = 0


def audit_images(warehouse: WarehouseResource):  # -> pl.DataFrame
    """Reals and the fakes of non-quarantined models (the detector's candidate images)."""
    return warehouse.query(
        """
        SELECT i.image_id, i.label, i.source, i.path, i.photo_id
        FROM images i LEFT JOIN model_stats s ON s.model_id = i.source
        WHERE i.label = 'real' OR (i.label = 'fake' AND NOT coalesce(s.quarantined, false))
        ORDER BY i.image_id
        """
    )


def run_audit(rows: list[dict], read, *, threshold: float, seed: int = 0) -> dict:  # noqa: ANN001
    """Scores per feature set (best classifier) and the verdict; `read(path) -> bytes`."""
    feats, labels, groups, unreadable = [], [], [], 0
    for r in rows:
        try:
            feats.append(file_features(read(r["path"])))
        except (OSError, ValueError):
            unreadable += 1
            continue
        labels.append(1 if r["label"] == "fake" else 0)
        groups.append(f"fake:{r['source']}" if r["label"] == "fake"
                      else f"real:{r.get('photo_id') or r['source']}")
    y, g = np.array(labels), np.array(groups)
    if len(set(labels)) < 2:
        raise ValueError(f"shortcut audit needs real and fake images; got labels {set(labels)}")
    results = {}
    for feature_set, names in FEATURE_SETS.items():
        x = feature_matrix(feats, feature_set)
        best = max((audit_score(x, y, g, c, seed=seed) for c in CLASSIFIERS), key=lambda s: s.auc)
        results[feature_set] = (best, top_features(x, y, names))
    best, top = results[BLOCKING_FEATURE_SET]
    return {
        "scores": results,
        "passed": best.auc <= threshold,
        "n_images": len(labels),
        "n_fake": int(y.sum()),
        "n_real": int(len(y) - y.sum()),
        "unreadable": unreadable,
        "top": top,
    }


@dg.asset(
    group_name="detector",
    deps=["real_images", "image_quality_stats"],
    kinds={"scikitlearn", "duckdb"},
    code_version=CODE_VERSION,
    metadata=table_metadata("shortcut_audit"),
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset="shortcut_audit",
            blocking=True,
            description="A metadata-only classifier (size, bytes/pixel, format, mode, grayscale, "
            "EXIF/ICC, JPEG tables) must not separate fake from real: AUC <= 0.65.",
        )
    ],
    description="Can metadata alone tell fake from real? Grouped-CV AUC with bootstrap CI.",
)
def shortcut_audit(
    context: dg.AssetExecutionContext,
    config: AuditConfig,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
) -> dg.MaterializeResult:
    df = audit_images(warehouse)
    parts = [
        part.sample(min(part.height, config.max_images_per_label), seed=config.seed)
        for part in df.partition_by("label")
    ]
    rows = [r for part in parts for r in part.iter_rows(named=True)]
    try:
        out = run_audit(
            rows, lambda p: image_store.absolute(p).read_bytes(),
            threshold=config.threshold, seed=config.seed,
        )
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    audit_id = f"audit-{utcnow():%Y%m%dT%H%M%S%f}"
    now = utcnow()
    records = [
        {
            "audit_id": audit_id, "feature_set": fs, "auc": s.auc, "auc_ci_low": s.ci_low,
            "auc_ci_high": s.ci_high, "n_images": out["n_images"], "n_real": out["n_real"],
            "n_fake": out["n_fake"], "n_groups": s.n_groups, "classifier": s.classifier,
            "threshold": config.threshold,
            "passed": s.auc <= config.threshold if fs == BLOCKING_FEATURE_SET else None,
            "top_features": json.dumps(top), "created_at": now,
        }
        for fs, (s, top) in out["scores"].items()
    ]
    warehouse.write("shortcut_audit", audit_id, records)
    best = out["scores"][BLOCKING_FEATURE_SET][0]
    info = "; ".join(
        f"{fs} {s.auc:.3f} (informational)"
        for fs, (s, _) in out["scores"].items() if fs != BLOCKING_FEATURE_SET
    )
    summary = (
        f"metadata-only AUC {best.auc:.3f} (95% CI {best.ci_low:.3f}-{best.ci_high:.3f}, "
        f"{best.classifier}) on {out['n_images']} images [{info}]"
    )
    description = (
        f"{summary} <= {config.threshold}: no metadata shortcut."
        if out["passed"]
        else f"{summary} > {config.threshold}: a detector could tell fake from real by "
        f"metadata alone ({', '.join(out['top'])}). Make both classes share sizes and "
        "encoder (real_images, post option) before training."
    )
    meta = {
        "audit_id": audit_id,
        "auc": float(best.auc),
        "auc_ci_low": float(best.ci_low),
        "auc_ci_high": float(best.ci_high),
        "n_images": out["n_images"],
        "unreadable_files": out["unreadable"],
        "top_features": dg.MetadataValue.json(out["top"]),
    }
    return dg.MaterializeResult(
        metadata={**meta, "verdict": description, **row_count(len(records))},
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_NAME,
                passed=bool(out["passed"]),
                severity=dg.AssetCheckSeverity.ERROR,
                description=description,
                metadata=meta,
            )
        ],
    )
