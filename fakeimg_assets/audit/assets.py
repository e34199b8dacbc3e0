"""`shortcut_audit`: a metadata-only classifier must not tell fake from real before training.

Its blocking check `no_metadata_shortcut` fails when the grouped cross-validated AUC of the
`metadata` feature set exceeds the threshold (0.65), which skips `detector` in the same run
and shows the AUC, its interval and the features that give the classes away in the UI.

Each image collection is audited on its own first (its fakes against its own reals, else
the platform's photo crops): a collection whose metadata gives its fakes away (JPEG fakes,
PNG reals) is recorded (`scope` 'collection:<name>', passed false), left out of the
blocking audit, and `detector_dataset` leaves it out of every split: caught, not trained on.
Role-'eval' collections are audited too but never count towards the blocking verdict.
"""


import json

import dagster as dg
import numpy as np

from fakeimg_assets.audit.classify import CLASSIFIERS, audit_score, top_features
from fakeimg_assets.audit.features import FEATURE_SETS, feature_matrix, file_features
from fakeimg_assets.lib.interval_chart import Bar, interval_chart
from fakeimg_assets.lib.metadata_table import readable, table_entries
from fakeimg_assets.lib.paths import COLLECTION_PREFIX
from fakeimg_assets.lib.plot_files import plot_metadata
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
    """Reals and the fakes of non-quarantined models, each with its collection (null: the
    platform's own fakes and photo crops) and that collection's role."""
    return warehouse.query(
        f"""
        WITH roles AS (SELECT collection, any_value(role) AS role FROM collections GROUP BY 1)
        SELECT i.image_id, i.label, i.source, i.path, i.photo_id, c.collection, r.role
        FROM images i LEFT JOIN model_stats s ON s.model_id = i.source
        LEFT JOIN model_metadata m ON m.model_id = i.source AND i.label = 'fake'
        CROSS JOIN LATERAL (SELECT CASE
            WHEN i.label = 'fake' THEN m.collection
            WHEN starts_with(i.source, '{COLLECTION_PREFIX}')
              THEN substr(i.source, {len(COLLECTION_PREFIX) + 1}) END AS collection) c
        LEFT JOIN roles r ON r.collection = c.collection
        WHERE i.label = 'real' OR (i.label = 'fake' AND NOT coalesce(s.quarantined, false))
        ORDER BY i.image_id
        """
    )


def audit_records(audit_id: str, scope: str, out: dict, threshold: float, now) -> list[dict]:  # noqa: ANN001
    """`shortcut_audit` rows of one audited scope, one per feature set."""
    return [
        {
            "audit_id": audit_id, "scope": scope, "feature_set": fs, "auc": s.auc,
            "auc_ci_low": s.ci_low, "auc_ci_high": s.ci_high, "n_images": out["n_images"],
            "n_real": out["n_real"], "n_fake": out["n_fake"], "n_groups": s.n_groups,
            "classifier": s.classifier, "threshold": threshold,
            "passed": s.auc <= threshold if fs == BLOCKING_FEATURE_SET else None,
            "top_features": json.dumps(top), "created_at": now,
        }
        for fs, (s, top) in out["scores"].items()
    ]


def audit_png(records: list[dict], audit_id: str, threshold: float) -> bytes:
    """AUC per feature set with its interval, one section per audited scope ('all' first),
    against the blocking threshold."""
    scopes = sorted({r["scope"] for r in records}, key=lambda s: (s != "all", s))
    sections = [(scope if scope != "all" else "all images (blocking: metadata)",
                 [Bar(r["feature_set"], r["auc"], r["auc_ci_low"], r["auc_ci_high"])
                  for r in records if r["scope"] == scope]) for scope in scopes]  # fmt: skip
    return interval_chart(sections, title=f"{audit_id}: can file metadata tell fake from real?",
                          axis="grouped-CV AUC (95% CI)", reference=threshold,
                          reference_label=f"threshold {threshold:g}")


def run_audit(rows: list[dict], read, *, threshold: float, seed: int = 0,  # noqa: ANN001
              fakes_by: str = "source") -> dict:
    """Scores per feature set (best classifier) and the verdict; `read(path) -> bytes`.

    Cross-validation folds hold out whole generators (`fakes_by` 'source') and photos; a
    collection with too few generators for that is audited holding out single images
    (`fakes_by` 'image_id')."""
    feats, labels, groups, unreadable = [], [], [], 0
    for r in rows:
        try:
            feats.append(file_features(read(r["path"])))
        except (OSError, ValueError):
            unreadable += 1
            continue
        labels.append(1 if r["label"] == "fake" else 0)
        groups.append(f"fake:{r[fakes_by]}" if r["label"] == "fake"
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
    import polars as pl

    def sample(frame: pl.DataFrame) -> list[dict]:
        parts = [part.sample(min(part.height, config.max_images_per_label), seed=config.seed)
                 for part in frame.partition_by("label")]
        return [r for part in parts for r in part.iter_rows(named=True)]

    def read(p: str) -> bytes:
        return image_store.absolute(p).read_bytes()

    df = audit_images(warehouse)
    platform_reals = df.filter((pl.col("label") == "real") & pl.col("collection").is_null())
    audit_id = f"audit-{utcnow():%Y%m%dT%H%M%S%f}"
    now = utcnow()
    records, failed = [], {}
    for name in sorted({c for c in df["collection"].to_list() if c}):
        own = df.filter(pl.col("collection") == name)
        fakes = own.filter(pl.col("label") == "fake")
        reals = own.filter(pl.col("label") == "real")
        if fakes.height == 0:
            continue
        pair = pl.concat([fakes, reals if reals.height else platform_reals])
        try:
            scoped = run_audit(sample(pair), read, threshold=config.threshold, seed=config.seed,
                               fakes_by="source" if fakes["source"].n_unique() >= 3
                               else "image_id")  # fmt: skip
        except ValueError as exc:
            context.log.warning(f"collection {name}: no audit ({exc})")
            continue
        records += audit_records(audit_id, f"collection:{name}", scoped, config.threshold, now)
        if not scoped["passed"]:
            failed[name] = scoped
    candidates = df.filter(
        pl.col("collection").is_null()
        | (~pl.col("collection").is_in(list(failed)) & (pl.col("role").fill_null("train") != "eval"))
    )
    try:
        out = run_audit(sample(candidates), read, threshold=config.threshold, seed=config.seed)
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    records += audit_records(audit_id, "all", out, config.threshold, now)
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
        "auc": readable(float(best.auc)),
        "auc_ci_low": readable(float(best.ci_low)),
        "auc_ci_high": readable(float(best.ci_high)),
        "n_images": out["n_images"],
        "unreadable_files": out["unreadable"],
        "top_features": dg.MetadataValue.json(out["top"]),
        # a collection whose own fakes and reals metadata tells apart never enters a split
        "collections_failed": dg.MetadataValue.json({
            name: f"AUC {o['scores'][BLOCKING_FEATURE_SET][0].auc:.3f} ({', '.join(o['top'])})"
            for name, o in failed.items()}),
    }
    shown = {**meta, "verdict": description, **row_count(len(records)),
             **table_entries("auc_by_feature_set", [
                 {k: r[k] for k in ("scope", "feature_set", "auc", "auc_ci_low", "auc_ci_high",
                                    "n_images", "classifier", "passed")} for r in records]),
             **plot_metadata(image_store.home_dir(), audit_id,
                             audit_png(records, audit_id, config.threshold), "shortcut audit")}
    return dg.MaterializeResult(
        metadata=shown,
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
