"""The diversity study's verdict: multi-family minus single-family mean held-out AP.

Every detector of both conditions is scored on the same held-out generators, so one
bootstrap replicate resamples those generators once (shared by both conditions) and the
draws within each condition, then takes the difference of the two conditions' mean AP.
The finding holds when the 95% interval's lower end is above 0. Each condition's own mean
gets the same two-level interval (`verdict.mean_bootstrap`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np

from fakeimg_assets.studies.diversity import CONDITIONS, MULTI, SINGLE
from fakeimg_assets.studies.verdict import Estimate, RunScores, mean_bootstrap


def runs_of(rows: Sequence[Mapping[str, object]]) -> dict[str, list[RunScores]]:
    """`{condition: [RunScores]}` from `diversity_results` rows (generator_ap as JSON)."""
    out: dict[str, list[RunScores]] = {c: [] for c in CONDITIONS}
    for r in rows:
        per = r["generator_ap"]
        per = json.loads(per) if isinstance(per, str) else per
        out[str(r["condition"])].append(RunScores(int(r["n_train_models"]),  # type: ignore[arg-type]
                                                  int(r["draw"]), dict(per)))  # type: ignore[arg-type]
    return out


def _matrix(runs: Sequence[RunScores], generators: list[str], what: str) -> np.ndarray:
    if not runs:
        raise ValueError(f"no {what} runs to judge")
    for r in runs:
        if sorted(r.generator_ap) != generators:
            raise ValueError(f"{what} draw {r.draw} was scored on other held-out generators "
                             f"({sorted(r.generator_ap)} vs {generators})")  # fmt: skip
    return np.asarray([[r.generator_ap[g] for g in generators] for r in runs], dtype=np.float64)


def difference_bootstrap(
    single: Sequence[RunScores], multi: Sequence[RunScores], *, n_boot: int = 2000,
    level: float = 0.95, seed: int = 0,
) -> Estimate:
    """mean AP(multi) - mean AP(single) with its percentile interval (generators resampled
    once per replicate for both conditions, draws within each condition)."""
    if not single or not multi:
        raise ValueError("both conditions need at least one scored run")
    generators = sorted(single[0].generator_ap)
    if not generators:
        raise ValueError("no held-out generator was scored")
    a = _matrix(single, generators, SINGLE)
    b = _matrix(multi, generators, MULTI)
    rng = np.random.default_rng(seed)
    n_gen = len(generators)
    reps = np.empty(n_boot)
    for i in range(n_boot):
        g = rng.integers(0, n_gen, size=n_gen)
        ra = rng.integers(0, a.shape[0], size=a.shape[0])
        rb = rng.integers(0, b.shape[0], size=b.shape[0])
        reps[i] = b[np.ix_(rb, g)].mean() - a[np.ix_(ra, g)].mean()
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(reps, [tail, 100 - tail])
    return Estimate(float(b.mean() - a.mean()), float(lo), float(hi), n_boot)


def verdict(rows: Sequence[Mapping[str, object]], *, n_boot: int = 2000, seed: int = 0
            ) -> dict[str, object]:  # fmt: skip
    """Both conditions' means with intervals and the difference with its interval."""
    runs = runs_of(rows)
    out: dict[str, object] = {}
    for condition in CONDITIONS:
        est = mean_bootstrap(runs[condition], n_boot=n_boot, seed=seed)
        out[condition] = _plain(est)
    diff = difference_bootstrap(runs[SINGLE], runs[MULTI], n_boot=n_boot, seed=seed)
    out["difference"] = {**_plain(diff), "statistic": "mean AP multi_family - single_family",
                         "holds": bool(diff.ci_low > 0)}  # fmt: skip
    return out


def _plain(e: Estimate) -> dict[str, float | None]:
    return {k: (None if math.isnan(v) else round(float(v), 4))
            for k, v in (("estimate", e.estimate), ("ci_low", e.ci_low), ("ci_high", e.ci_high))}
