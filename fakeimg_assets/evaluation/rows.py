"""`eval_results` rows from scored test images: balanced per generator, with intervals.

Per held-out generator the detector sees as many test reals as that generator's fakes,
drawn (seeded, per generator) at the same sizes as those fakes, so chance AP is 0.5 in
every row and a size cannot give the class away. The paper's headline is the mean AP over
held-out generators ('mean_over_models'); the pooled AP over the same balanced sets is
'overall'. Intervals: two-level bootstrap over generators / photos, then images.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from fakeimg_assets.evaluation.bootstrap import (
    DEFAULT_REPLICATES,
    ap_replicates,
    interval,
    mean_ap_replicates,
)
from fakeimg_assets.evaluation.metrics import binary_metrics
from fakeimg_assets.lib.paths import derive_seed
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.splits.splits import time_bucket

NEEDED = ("image_id", "label", "source", "architecture", "group_key", "width", "height", "score")


def balanced_sets(test: pl.DataFrame, seed: int = 0, *, match_sizes: bool = True
                  ) -> dict[str, pl.DataFrame]:  # fmt: skip
    """`{model_id: fakes + as many size-matched reals}` over the test rows (seeded).

    For each of the generator's image sizes, c = min(fakes, reals of that size) of each are
    kept, chosen by a seeded hash order of (generator, image): reproducible, independent of
    other generators. A generator with no real of any of its sizes gets no set.
    `match_sizes=False` (an outside set, which comes at its own sizes): c = min(fakes,
    reals) of each, whatever their sizes.
    """
    missing = [c for c in NEEDED if c not in test.columns]
    if missing:
        raise ValueError(f"test rows lack column(s) {missing}")
    reals = test.filter(pl.col("label") == "real")
    fakes = test.filter(pl.col("label") == "fake")
    out: dict[str, pl.DataFrame] = {}
    for model in sorted(set(fakes["source"].to_list())):
        mine = fakes.filter(pl.col("source") == model)
        parts = []
        if not match_sizes:
            c = min(mine.height, reals.height)
            if c:
                parts += [_seeded_head(mine, c, "eval-fakes", seed, model),
                          _seeded_head(reals, c, "eval-reals", seed, model)]
        for (w, h), group in (mine.group_by(["width", "height"], maintain_order=True)
                              if match_sizes else ()):
            same = reals.filter(
                (pl.col("width").is_null() if w is None else pl.col("width") == w)
                & (pl.col("height").is_null() if h is None else pl.col("height") == h)
            )
            c = min(group.height, same.height)
            if c == 0:
                continue
            parts.append(_seeded_head(group, c, "eval-fakes", seed, model))
            parts.append(_seeded_head(same, c, "eval-reals", seed, model))
        if parts:
            out[model] = pl.concat(parts)
    return out


def _seeded_head(df: pl.DataFrame, k: int, what: str, seed: int, model: str) -> pl.DataFrame:
    keys = [derive_seed(what, seed, model, i) for i in df["image_id"]]
    return df.with_columns(pl.Series("_k", keys)).sort("_k", "image_id").head(k).drop("_k")


def _labels(df: pl.DataFrame) -> np.ndarray:
    return (df["label"] == "fake").to_numpy().astype(np.int64)


def _clusters(df: pl.DataFrame, fakes_by: str) -> list[str]:
    """Reals cluster by source photo; fakes by generator (pooled) or image (one model)."""
    return [
        f"photo:{g}" if lbl == "real" else f"fake:{f}"
        for lbl, g, f in zip(df["label"], df["group_key"], df[fakes_by], strict=True)
    ]


def evaluation_rows(
    test: pl.DataFrame,
    *,
    run_id: str,
    split_id: str,
    protocol: str,
    perturbation: str | None = None,
    seed: int = 0,
    n_boot: int = DEFAULT_REPLICATES,
    match_sizes: bool = True,
    extra: dict | None = None,
) -> list[dict]:
    """Rows for one (run, protocol, perturbation): per model, mean over models, pooled,
    per architecture, per family group and per time bucket of `model_created_at`.
    `extra`: columns every row carries (`detector`, `eval_set`, `train_source`)."""
    sets = balanced_sets(test, seed, match_sizes=match_sizes)
    if not sets:
        raise ValueError("no held-out generator has test reals at its image sizes"
                         if match_sizes else "no generator with both fakes and reals")
    now = utcnow()
    base = {"run_id": run_id, "detector": run_id, "split_id": split_id, "protocol": protocol,
            "perturbation": perturbation, "split": "test", "evaluated_at": now,
            **(extra or {})}
    rows: list[dict] = []

    def row(kind: str, value: str, df: pl.DataFrame, fakes_by: str) -> tuple[dict, np.ndarray]:
        y, s = _labels(df), df["score"].to_numpy().astype(np.float64)
        m = binary_metrics(y.tolist(), s.tolist())
        reps = ap_replicates(
            s, y, _clusters(df, fakes_by), n_boot,
            derive_seed("bootstrap", seed, protocol, perturbation, kind, value),
        )
        lo, hi = interval(reps)
        r = {**base, "group_kind": kind, "group_value": value, "n_real": m["n_real"],
             "n_fake": m["n_fake"], "ap": m["ap"], "ap_ci_low": lo, "ap_ci_high": hi,
             "accuracy": m["accuracy"], "acc_real": m["real_accuracy"],
             "acc_fake": m["fake_accuracy"], "auc": m["auc"]}
        rows.append(r)
        return r, reps

    per_model = [row("model", model, df, "image_id") for model, df in sets.items()]
    lo, hi = interval(mean_ap_replicates(
        [reps for _, reps in per_model], derive_seed("bootstrap-mean", seed, protocol, perturbation)
    ))
    mean = {k: _mean(r[k] for r, _ in per_model)
            for k in ("ap", "accuracy", "acc_real", "acc_fake", "auc")}
    rows.append({**base, "group_kind": "mean_over_models", "group_value": f"{len(sets)} models",
                 "n_real": sum(r["n_real"] for r, _ in per_model),
                 "n_fake": sum(r["n_fake"] for r, _ in per_model),
                 **mean, "ap_ci_low": lo, "ap_ci_high": hi})
    pooled = pl.concat(list(sets.values())).with_columns(
        pl.col("model_created_at").map_elements(time_bucket, return_dtype=pl.Utf8)
        .alias("time_bucket") if "model_created_at" in test.columns
        else pl.lit("unknown").alias("time_bucket")
    )
    row("overall", "all", pooled, "source")
    for kind in ("architecture", "family_group", "time_bucket"):
        if kind not in pooled.columns:
            continue
        by_model = pooled.filter(pl.col("label") == "fake").select("source", kind).unique()
        for value in sorted(v for v in set(by_model[kind].to_list()) if v is not None):
            models = set(by_model.filter(pl.col(kind) == value)["source"].to_list())
            row(kind, str(value), pl.concat([sets[m] for m in sorted(models)]), "source")
    return rows


def _mean(values) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None
