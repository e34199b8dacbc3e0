"""Grouped cross-validated AUC of a metadata-only classifier, with a bootstrap interval.

Folds hold whole groups out (a generator's fakes, a photo's crops), so the classifier must
find a rule that transfers to unseen generators and photos, as the detector must; the AUC
is computed on the pooled out-of-fold scores and its 95% interval by resampling groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSIFIERS = ("logistic", "gradient_boosting")


@dataclass(frozen=True)
class AuditScore:
    classifier: str
    auc: float
    ci_low: float
    ci_high: float
    n_groups: int


def _model(name: str, seed: int):  # -> sklearn estimator
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logistic":
        return make_pipeline(
            StandardScaler(), LogisticRegression(C=1.0, max_iter=1000, class_weight="balanced")
        )
    if name == "gradient_boosting":  # balanced by sample weights in out_of_fold_scores
        return GradientBoostingClassifier(n_estimators=40, max_depth=2, random_state=seed)
    raise KeyError(f"unknown audit classifier {name!r}; known: {', '.join(CLASSIFIERS)}")


def out_of_fold_scores(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, classifier: str, *, seed: int = 0,
    folds: int = 5,
) -> np.ndarray:
    """P(fake) for every row, each predicted by a model that never saw its group."""
    from sklearn.model_selection import GroupKFold
    from sklearn.utils.class_weight import compute_sample_weight
    from threadpoolctl import threadpool_limits

    n_groups = len(np.unique(groups))
    if n_groups < 2 or len(np.unique(y)) < 2:
        raise ValueError(f"audit needs both labels and >= 2 groups; got {n_groups} groups")
    scores = np.full(len(y), 0.5)
    splitter = GroupKFold(n_splits=min(folds, n_groups))
    with threadpool_limits(1):  # tiny fits: threads only contend on a shared machine
        for train, test in splitter.split(x, y, groups):
            if len(np.unique(y[train])) < 2:
                continue  # one class seen: no rule to learn, the 0.5 guess stays
            model = _model(classifier, seed)
            if classifier == "gradient_boosting":  # a class prior alone must score AUC 0.5
                weight = compute_sample_weight("balanced", y[train])
                model.fit(x[train], y[train], sample_weight=weight)
            else:
                model.fit(x[train], y[train])
            scores[test] = model.predict_proba(x[test])[:, 1]
    return scores


def fast_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by ranks (ties count half): the Mann-Whitney U over n_pos * n_neg."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_auc(
    y: np.ndarray, scores: np.ndarray, groups: np.ndarray, *, n_boot: int = 300, seed: int = 0
) -> tuple[float, float, float]:
    """(AUC, 2.5th, 97.5th percentile) resampling whole groups with replacement."""
    auc = fast_auc(y, scores)
    rng = np.random.default_rng(seed)
    uniq = np.unique(groups)
    members = [np.flatnonzero(groups == g) for g in uniq]
    draws = []
    for _ in range(n_boot):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(uniq), len(uniq))])
        if len(np.unique(y[idx])) == 2:
            draws.append(fast_auc(y[idx], scores[idx]))
    if not draws:
        return auc, auc, auc
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return auc, float(lo), float(hi)


def audit_score(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, classifier: str, *, seed: int = 0
) -> AuditScore:
    scores = out_of_fold_scores(x, y, groups, classifier, seed=seed)
    auc, lo, hi = bootstrap_auc(y, scores, groups, seed=seed)
    return AuditScore(classifier, auc, lo, hi, len(np.unique(groups)))


def top_features(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], k: int = 3) -> list[str]:
    """The features whose single-feature AUC is furthest from 0.5 (what the shortcut is)."""
    from sklearn.metrics import roc_auc_score

    ranked = []
    for j, name in enumerate(names):
        col = x[:, j]
        if np.ptp(col) == 0:
            continue
        a = float(roc_auc_score(y, col))
        ranked.append((abs(a - 0.5), f"{name} (AUC {max(a, 1 - a):.2f})"))
    return [label for _, label in sorted(ranked, reverse=True)[:k]]
