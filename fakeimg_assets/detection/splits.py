"""Train/test splits that hold whole generators out (pure functions).

A detector is only interesting on generators it never saw, so fakes are split by model
and reals by their source photo (crops of one photo never straddle the split).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from fakeimg_assets.paths import derive_seed

HOLDOUT_STRATEGIES = ("random", "latest")


@dataclass(frozen=True)
class ModelInfoForSplit:
    model_id: str
    architecture: str | None
    created_at: object | None  # datetime or None


def n_test(n: int, fraction: float) -> int:
    """How many of `n` groups go to test: at least one, at most n-1."""
    if n < 2:
        raise ValueError(f"need at least 2 groups to hold some out, have {n}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"test fraction must be in (0, 1), got {fraction}")
    return min(n - 1, max(1, math.ceil(n * fraction)))


def held_out_models(
    models: Sequence[ModelInfoForSplit], fraction: float, strategy: str = "random", seed: int = 0
) -> set[str]:
    """Model ids held out of training.

    `random`: a seeded hash order (stable when new models arrive: a model's side only
    depends on its own id). `latest`: the most recently published, to test detectors on
    generators that appeared after training.
    """
    if strategy not in HOLDOUT_STRATEGIES:
        raise ValueError(f"unknown holdout strategy {strategy!r}; use one of {HOLDOUT_STRATEGIES}")
    k = n_test(len(models), fraction)
    if strategy == "random":
        order = sorted(models, key=lambda m: derive_seed("holdout", seed, m.model_id))
    else:
        order = sorted(
            models,
            key=lambda m: (m.created_at is not None, m.created_at or 0, m.model_id),
            reverse=True,
        )
    return {m.model_id for m in order[:k]}


def held_out_groups(groups: Sequence[str], fraction: float, seed: int = 0) -> set[str]:
    """Real-image groups (source photos) held out, by seeded hash order."""
    unique = sorted(set(groups))
    k = n_test(len(unique), fraction)
    return set(sorted(unique, key=lambda g: derive_seed("holdout-real", seed, g))[:k])


def time_bucket(created_at: object | None) -> str:
    """Half-year bucket of a model's publication time, e.g. '2024-H2'."""
    if created_at is None:
        return "unknown"
    year, month = created_at.year, created_at.month  # type: ignore[attr-defined]
    return f"{year}-H{1 if month <= 6 else 2}"


def nested_subsets(items: Sequence[str], sizes: Sequence[int], seed: int = 0) -> dict[int, list[str]]:
    """Seeded nested subsets: the k-model set is contained in every larger one.

    Nesting makes a scaling curve compare like with like: adding generators, never swapping.
    """
    order = sorted(items, key=lambda m: derive_seed("scaling", seed, m))
    out = {}
    for k in sizes:
        if not 1 <= k <= len(order):
            raise ValueError(f"subset size {k} out of range 1..{len(order)}")
        out[k] = order[:k]
    return out


def default_scaling_sizes(n: int) -> list[int]:
    """1, 2, 4, ... up to n (n itself included)."""
    sizes, k = [], 1
    while k < n:
        sizes.append(k)
        k *= 2
    if n >= 1:
        sizes.append(n)
    return sizes
