"""The study's verdict statistic and each level of its bootstrap (generators, draws)."""

from __future__ import annotations

import numpy as np
import pytest

from fakeimg_assets.studies.verdict import (
    RunScores,
    mean_bootstrap,
    ols_slope,
    paired_margin_bootstrap,
    pooled_slope_bootstrap,
    resample_indices,
    slope_bootstrap,
)


def _runs(aps: dict[int, list[dict[str, float]]]) -> list[RunScores]:
    return [RunScores(k, d, ap) for k, draws in aps.items() for d, ap in enumerate(draws)]


def test_ols_slope_is_least_squares() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=20), rng.normal(size=20)
    assert ols_slope(x, y) == pytest.approx(np.polyfit(x, y, 1)[0])
    assert np.isnan(ols_slope(np.ones(4), np.arange(4.0)))


def test_the_generator_level_widens_the_interval() -> None:
    """Every draw identical, generators that disagree on the trend: only resampling
    generators shows the uncertainty (resampling runs alone gives a zero-width interval)."""
    up = {1: 0.6, 2: 0.7, 4: 0.8, 8: 0.9}
    flat = {1: 0.8, 2: 0.8, 4: 0.8, 8: 0.8}
    runs = _runs({k: [{"a": up[k], "b": flat[k], "c": flat[k] - 0.05}] * 3 for k in up})
    both = slope_bootstrap(runs, n_boot=400, seed=1)
    draws_only = slope_bootstrap(runs, n_boot=400, seed=1, generators=False)
    assert draws_only.ci_high - draws_only.ci_low == pytest.approx(0.0, abs=1e-12)
    assert both.ci_high - both.ci_low > 0.02
    assert both.ci_low == pytest.approx(0.0, abs=1e-9)  # resamples without "a": no slope


def test_the_draw_level_widens_the_interval() -> None:
    """One generator, draws that disagree: only resampling runs shows the uncertainty."""
    rng = np.random.default_rng(3)
    runs = _runs({k: [{"a": 0.7 + 0.02 * np.log2(k) + rng.normal(0, 0.05)} for _ in range(5)]
                  for k in (1, 2, 4, 8)})
    both = slope_bootstrap(runs, n_boot=400, seed=2)
    gens_only = slope_bootstrap(runs, n_boot=400, seed=2, draws=False)
    assert gens_only.ci_high - gens_only.ci_low == pytest.approx(0.0, abs=1e-12)
    assert both.ci_high - both.ci_low > 0.01


def test_runs_are_resampled_within_their_k() -> None:
    runs = _runs({1: [{"a": 0.5}] * 4, 2: [{"a": 0.6}] * 2, 4: [{"a": 0.7}]})
    g_idx, r_idx = resample_indices(runs, 200, np.random.default_rng(0))
    ks = np.asarray([r.k for r in runs])
    assert (ks[r_idx] == ks[None, :]).all()  # every column keeps its k
    assert g_idx.shape == (200, 1)


def test_a_clear_rise_holds_and_noise_does_not() -> None:
    rng = np.random.default_rng(5)
    gens = [f"g{i}" for i in range(6)]
    rising = _runs({k: [{g: min(1.0, 0.6 + 0.08 * np.log2(k) + rng.normal(0, 0.02))
                         for g in gens} for _ in range(5)] for k in (1, 2, 4, 8)})
    noise = _runs({k: [{g: 0.8 + rng.normal(0, 0.05) for g in gens} for _ in range(5)]
                   for k in (1, 2, 4, 8)})
    assert slope_bootstrap(rising, n_boot=300).excludes_zero_above()
    assert not slope_bootstrap(noise, n_boot=300).excludes_zero_above()
    pooled = pooled_slope_bootstrap([rising, rising], n_boot=300)
    assert pooled.estimate == pytest.approx(slope_bootstrap(rising, n_boot=10).estimate)


def test_mean_and_margin_intervals_cover_their_estimates() -> None:
    runs = _runs({4: [{"a": 0.9, "b": 0.8}, {"a": 0.95, "b": 0.7}]})
    base = _runs({4: [{"a": 0.6, "b": 0.6}, {"a": 0.7, "b": 0.5}]})
    m = mean_bootstrap(runs, n_boot=300)
    assert m.ci_low <= m.estimate <= m.ci_high and m.estimate == pytest.approx(0.8375)
    margin = paired_margin_bootstrap(runs, base, n_boot=300)
    assert margin.estimate == pytest.approx(0.2375) and margin.ci_low > 0
    with pytest.raises(ValueError, match="detector's own runs"):
        paired_margin_bootstrap(runs, base[:1], n_boot=10)
    with pytest.raises(ValueError, match="other generators"):
        slope_bootstrap([RunScores(1, 0, {"a": 1.0}), RunScores(2, 0, {"b": 1.0})])
