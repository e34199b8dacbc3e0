"""The cross-dataset comparison's verdict: detector A minus detector B on one evaluation set.

Both detectors score the same balanced per-generator sets (`evaluation.rows.balanced_sets`),
so the comparison is paired: one bootstrap replicate draws one set of image weights
(reals and fakes resampled separately within each generator's set, photos as clusters) and
scores both detectors with it; the statistic is the mean over generators of
AP(A) - AP(B). The finding holds when the 95% interval's lower end is above 0.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from fakeimg_assets.evaluation.bootstrap import interval, stratified_weights, weighted_ap


def paired_difference(
    sets: Mapping[str, pl.DataFrame], score_a: Mapping[str, float], score_b: Mapping[str, float],
    *, n_boot: int = 2000, seed: int = 0, level: float = 0.95,
) -> dict[str, float | int | bool | dict[str, float] | None]:
    """Mean over generators of AP(A) - AP(B) on `sets` ({generator: rows with `path`,
    `label`, `group_key`}), `score_x` {path: score}; with its paired bootstrap interval."""
    if not sets:
        raise ValueError("no evaluation set to compare the detectors on")
    rng = np.random.default_rng(seed)
    diffs, reps, per = [], [], {}
    for gen, df in sorted(sets.items()):
        y = (df["label"] == "fake").to_numpy().astype(np.int64)
        a = np.asarray([score_a[p] for p in df["path"]], dtype=np.float64)
        b = np.asarray([score_b[p] for p in df["path"]], dtype=np.float64)
        clusters = [f"photo:{g}" if lbl == 0 else f"img:{i}"
                    for i, (lbl, g) in enumerate(zip(y, df["group_key"], strict=True))]
        ones = np.ones((1, y.size))
        d = float(weighted_ap(a, y, ones)[0] - weighted_ap(b, y, ones)[0])
        w = stratified_weights(rng, y.tolist(), clusters, n_boot)
        reps.append(weighted_ap(a, y, w) - weighted_ap(b, y, w))
        diffs.append(d)
        per[gen] = d
    rep = np.nanmean(np.vstack(reps), axis=0)
    lo, hi = interval(rep, level)
    return {"estimate": float(np.mean(diffs)), "ci_low": lo, "ci_high": hi, "n_boot": n_boot,
            "generators": per, "holds": bool(lo is not None and lo > 0)}
