"""Bootstrap intervals for AP, vectorised (numpy only), seeded.

A resample is a weight vector (how often each image is drawn), so every replicate shares
one sort of the scores and all replicates are scored at once as a (B, n) matrix. Images
are not independent: crops of one photo, fakes of one generator. Resampling is therefore
two-level: draw clusters (photos, generators) with replacement, then images within each
drawn cluster. The headline mean AP over held-out generators resamples generators, then
images within each generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_REPLICATES = 1000


def _block_ends(sorted_scores: np.ndarray) -> np.ndarray:
    """For each position of a descending score array, the last index of its tie block."""
    n = sorted_scores.size
    is_end = np.ones(n, dtype=bool)
    is_end[:-1] = sorted_scores[:-1] != sorted_scores[1:]
    idx = np.where(is_end, np.arange(n), n)
    return np.minimum.accumulate(idx[::-1])[::-1]


def weighted_ap(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AP of each weight row (B, n) over the same scores; equals sklearn's AP for unit weights.

    Tied scores count as one threshold (precision at the end of the tie block), as sklearn
    does. A row without positive weight on a fake gives NaN.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if s.ndim != 1 or s.shape != y.shape or w.shape[1] != s.size:
        raise ValueError(f"shapes differ: scores {s.shape}, labels {y.shape}, weights {w.shape}")
    order = np.argsort(-s, kind="stable")
    s, y, w = s[order], y[order], w[:, order]
    ends = _block_ends(s)
    wy = w * y
    tp = np.cumsum(wy, axis=1)[:, ends]
    seen = np.cumsum(w, axis=1)[:, ends]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(seen > 0, tp / np.where(seen > 0, seen, 1), 0.0)
        pos = wy.sum(axis=1)
        return np.where(pos > 0, (wy * precision).sum(axis=1) / np.where(pos > 0, pos, 1), np.nan)


def cluster_weights(rng: np.random.Generator, clusters: Sequence[object], n_boot: int) -> np.ndarray:
    """(n_boot, n) two-level bootstrap counts: clusters with replacement, then members.

    A cluster drawn k times contributes k independent within-cluster resamples (summed).
    Singleton clusters make it the ordinary bootstrap.
    """
    labels = np.asarray([str(c) for c in clusters])
    n = labels.size
    out = np.zeros((n_boot, n), dtype=np.float64)
    if n == 0:
        return out
    names, inverse = np.unique(labels, return_inverse=True)
    drawn = rng.multinomial(names.size, np.full(names.size, 1.0 / names.size), size=n_boot)
    sizes = np.bincount(inverse, minlength=names.size)
    single = sizes[inverse] == 1  # a lone member takes its cluster's count as it is
    out[:, single] = drawn[:, inverse[single]]
    for c in np.flatnonzero(sizes > 1):
        members = np.flatnonzero(inverse == c)
        m = members.size
        out[:, members] = rng.multinomial(drawn[:, c] * m, np.full(m, 1.0 / m))
    return out


def stratified_weights(
    rng: np.random.Generator, labels: Sequence[int], clusters: Sequence[object], n_boot: int
) -> np.ndarray:
    """Two-level weights drawn separately for reals and fakes, so both stay present."""
    y = np.asarray(labels)
    c = np.asarray([str(v) for v in clusters])
    w = np.zeros((n_boot, y.size))
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        if idx.size:
            w[:, idx] = cluster_weights(rng, c[idx], n_boot)
    return w


def interval(values: np.ndarray, level: float = 0.95) -> tuple[float | None, float | None]:
    """Percentile interval of finite replicate values (None, None when there are none)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None, None
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(v, [tail, 100 - tail])
    return float(lo), float(hi)


def ap_replicates(
    scores: Sequence[float], labels: Sequence[int], clusters: Sequence[object],
    n_boot: int, seed: int,
) -> np.ndarray:
    """Bootstrap AP replicates of one pooled set (reals and fakes resampled by cluster)."""
    rng = np.random.default_rng(seed)
    w = stratified_weights(rng, labels, clusters, n_boot)
    return weighted_ap(np.asarray(scores), np.asarray(labels), w)


def mean_ap_replicates(per_group: Sequence[np.ndarray], seed: int) -> np.ndarray:
    """Two-level replicates of the mean AP over groups (generators).

    `per_group[g]` holds group g's within-group AP replicates (same length B). Each outer
    replicate draws groups with replacement and averages their replicate-b AP.
    """
    if not per_group:
        raise ValueError("no groups to average over")
    a = np.vstack([np.asarray(r, dtype=np.float64) for r in per_group])  # (G, B)
    g, b = a.shape
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, g, size=(b, g))
    return np.nanmean(a[idx, np.arange(b)[:, None]], axis=1)
