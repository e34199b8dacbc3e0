"""A study's verdict as a statistic with an interval, fixed before the data is seen.

The scaling finding is tested as the slope of held-out AP on log2(k) (k: training
generators), estimated by ordinary least squares over every run of the study, with a
two-level bootstrap interval: each replicate resamples the held-out generators (the same
resample for every run, since every run is scored on the same generators), then the runs
within each k (the draws), and refits the slope. The finding holds when the interval's
lower end is above 0. A curve that rises at every step but whose slope interval reaches 0
does not hold: that is what a threshold on a mean of three draws could not say.

Pure numpy over plain rows (`RunScores`), so each level of the bootstrap is tested apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RunScores:
    """One detector run of a study: its k, draw, and AP on each held-out generator."""

    k: int
    draw: int
    generator_ap: Mapping[str, float]

    @property
    def ap(self) -> float:
        """The run's primary outcome: mean AP over its held-out generators."""
        return float(np.mean(list(self.generator_ap.values())))


@dataclass(frozen=True)
class Estimate:
    """A statistic, its bootstrap interval and how many replicates were finite."""

    estimate: float
    ci_low: float
    ci_high: float
    replicates: int

    def excludes_zero_above(self) -> bool:
        return self.ci_low > 0


def ols_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y on x (NaN when x does not vary)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    dx = x - x.mean()
    den = float((dx * dx).sum())
    return float((dx * (y - y.mean())).sum() / den) if den > 0 else math.nan


def _matrix(runs: Sequence[RunScores]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(log2 k per run, the held-out generators, AP matrix runs x generators)."""
    if not runs:
        raise ValueError("no runs to judge")
    generators = sorted(runs[0].generator_ap)
    for r in runs:
        if sorted(r.generator_ap) != generators:
            raise ValueError(f"run k={r.k} draw={r.draw} was scored on other generators")
    x = np.log2(np.asarray([r.k for r in runs], dtype=np.float64))
    aps = np.asarray([[r.generator_ap[g] for g in generators] for r in runs], dtype=np.float64)
    return x, generators, aps


def resample_indices(
    runs: Sequence[RunScores], n_boot: int, rng: np.random.Generator,
    *, generators: bool = True, draws: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(generator indices (B, G), run indices (B, R)) of `n_boot` two-level replicates.

    Generators are drawn with replacement; runs are drawn with replacement within their
    own k, so every replicate keeps each k's number of runs. Either level can be turned
    off (identity) to show what it contributes.
    """
    n_gen = len(runs[0].generator_ap)
    n_runs = len(runs)
    g_idx = (rng.integers(0, n_gen, size=(n_boot, n_gen)) if generators
             else np.tile(np.arange(n_gen), (n_boot, 1)))  # fmt: skip
    r_idx = np.tile(np.arange(n_runs), (n_boot, 1))
    if draws:
        ks = np.asarray([r.k for r in runs])
        for k in np.unique(ks):
            members = np.flatnonzero(ks == k)
            r_idx[:, members] = members[rng.integers(0, members.size, size=(n_boot, members.size))]
    return g_idx, r_idx


def slope_bootstrap(
    runs: Sequence[RunScores], *, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
    generators: bool = True, draws: bool = True,
) -> Estimate:
    """The slope of AP on log2(k) with its two-level percentile interval."""
    x, _, aps = _matrix(runs)
    point = ols_slope(x, aps.mean(axis=1))
    rng = np.random.default_rng(seed)
    g_idx, r_idx = resample_indices(runs, n_boot, rng, generators=generators, draws=draws)
    reps = np.empty(n_boot)
    for b in range(n_boot):
        y = aps[np.ix_(r_idx[b], g_idx[b])].mean(axis=1)
        reps[b] = ols_slope(x[r_idx[b]], y)
    return _estimate(point, reps, level)


def mean_bootstrap(
    runs: Sequence[RunScores], *, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
) -> Estimate:
    """Mean AP over a set of runs (one k) with the same two-level interval."""
    _, _, aps = _matrix(runs)
    rng = np.random.default_rng(seed)
    g_idx, r_idx = resample_indices(runs, n_boot, rng)
    reps = np.asarray([aps[np.ix_(r_idx[b], g_idx[b])].mean() for b in range(n_boot)])
    return _estimate(float(aps.mean()), reps, level)


def pooled_slope_bootstrap(
    studies: Sequence[Sequence[RunScores]], *, n_boot: int = 2000, level: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """The mean of several studies' slopes (one per world seed), each study resampled on
    its own (its generators, its draws): the replication's verdict."""
    if not studies:
        raise ValueError("no studies to pool")
    per_study = [slope_bootstrap(runs, n_boot=n_boot, level=level, seed=seed + i)
                 for i, runs in enumerate(studies)]  # fmt: skip
    reps = np.zeros(n_boot)
    for i, runs in enumerate(studies):
        x, _, aps = _matrix(runs)
        rng = np.random.default_rng(seed + i)
        g_idx, r_idx = resample_indices(runs, n_boot, rng)
        for b in range(n_boot):
            reps[b] += ols_slope(x[r_idx[b]], aps[np.ix_(r_idx[b], g_idx[b])].mean(axis=1))
    reps /= len(studies)
    return _estimate(float(np.mean([s.estimate for s in per_study])), reps, level)


def paired_margin_bootstrap(
    runs: Sequence[RunScores], baseline: Sequence[RunScores], *, n_boot: int = 2000,
    level: float = 0.95, seed: int = 0,
) -> Estimate:
    """Mean over runs of (detector AP - baseline AP) on the same runs and generators, with
    the two-level interval (both scores resampled together)."""
    if [(r.k, r.draw) for r in runs] != [(r.k, r.draw) for r in baseline]:
        raise ValueError("the baseline must be scored on the detector's own runs")
    _, _, det = _matrix(runs)
    _, _, base = _matrix(baseline)
    diff = det - base
    rng = np.random.default_rng(seed)
    g_idx, r_idx = resample_indices(runs, n_boot, rng)
    reps = np.asarray([diff[np.ix_(r_idx[b], g_idx[b])].mean() for b in range(n_boot)])
    return _estimate(float(diff.mean()), reps, level)


def _estimate(point: float, reps: np.ndarray, level: float) -> Estimate:
    finite = reps[np.isfinite(reps)]
    if finite.size == 0:
        return Estimate(point, math.nan, math.nan, 0)
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return Estimate(point, float(lo), float(hi), int(finite.size))
