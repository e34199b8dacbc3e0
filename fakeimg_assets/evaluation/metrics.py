"""Detector metrics (numpy only, equal to scikit-learn's), label 1 = fake, score = P(fake).

AP is the paper's headline metric because it is threshold-free; accuracy at a fixed threshold
is reported per class too, since a detector that calls everything "fake" looks fine on
fake-heavy test sets. Per-generator evaluation often has only fakes, so AP/AUC become `None`
(undefined) instead of NaN or an exception.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fakeimg_assets.evaluation.bootstrap import weighted_ap


def binary_metrics(
    labels: Sequence[int], scores: Sequence[float], threshold: float = 0.5
) -> dict[str, int | float | None]:
    """AP, ROC-AUC and accuracies; a score >= `threshold` is predicted fake.

    Returns {"n_real", "n_fake", "ap", "accuracy", "auc", "real_accuracy", "fake_accuracy"}.
    ap/auc are None unless both classes are present; real/fake_accuracy are None when that
    class is absent.
    """
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError("labels and scores must be 1-D sequences")
    if y.size != s.size:
        raise ValueError(f"labels ({y.size}) and scores ({s.size}) differ in length")
    if y.size == 0:
        raise ValueError("no labels/scores given")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0 (real) or 1 (fake), got {sorted(set(y.tolist()))}")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinite values")
    y = y.astype(np.int64)

    pred = (s >= threshold).astype(np.int64)
    correct = pred == y
    real, fake = y == 0, y == 1
    n_real, n_fake = int(real.sum()), int(fake.sum())
    both = n_real > 0 and n_fake > 0
    return {
        "n_real": n_real,
        "n_fake": n_fake,
        "ap": average_precision(y, s) if both else None,
        "accuracy": float(correct.mean()),
        "auc": roc_auc(y, s) if both else None,
        "real_accuracy": float(correct[real].mean()) if n_real else None,
        "fake_accuracy": float(correct[fake].mean()) if n_fake else None,
    }


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """AP as scikit-learn computes it (ties form one threshold), in plain numpy."""

    return float(weighted_ap(scores, labels, np.ones((1, len(scores))))[0])


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic with average ranks for ties (numpy only)."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(s, kind="stable")
    sorted_s = s[order]
    ranks = np.empty(s.size, dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], s.size]
    avg = (starts + ends + 1) / 2.0  # 1-based average rank of each tie block
    ranks[order] = np.repeat(avg, ends - starts)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
