"""The scaling study's design as pure functions: held-out set, draws, image budgets, summary.

Question: does held-out AP grow with the number of training generators when the number of
fake images is fixed? Each k on a log scale (1, 2, 4, ..., all) gets several random model
subsets ("draws"), each with its own seed (separate from the detector's init seed), the
same fake budget and as many reals. One held-out set serves every run and contains at least
one architecture no training model has. A control curve keeps one generator set (the whole
pool, i.e. the largest k) and grows the image count instead.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from fakeimg_assets.detection.data import water_fill
from fakeimg_assets.lib.paths import derive_seed


@dataclass(frozen=True)
class StudyDesign:
    """Which models are held out (fixed for the study) and which can be drawn for training."""

    heldout: tuple[str, ...]
    pool: tuple[str, ...]
    unseen_families: tuple[str, ...]
    families: Mapping[str, str]


@dataclass(frozen=True)
class Draw:
    """One training run of the study."""

    k: int
    draw: int
    control: bool
    models: tuple[str, ...]
    n_fake: int
    draw_seed: int
    init_seed: int
    left_out: str | None = None  # leave-one-family-out runs: the family no model comes from


def scaling_sizes(n: int) -> list[int]:
    """1, 2, 4, ... then n itself; a power of two within 1.5x of n is dropped (9 gives
    1, 2, 4, 9, not 1, 2, 4, 8, 9: two near-equal points would cost runs and show nothing)."""
    if n < 1:
        raise ValueError(f"need at least one training model, have {n}")
    sizes, k = [], 1
    while k < n:
        sizes.append(k)
        k *= 2
    if len(sizes) > 1 and n < 1.5 * sizes[-1]:
        sizes.pop()
    return [*sizes, n]


def design_study(
    train_models: Mapping[str, str], test_models: Mapping[str, str], seed: int = 0,
    *, hold_out_family: bool = True,
) -> StudyDesign:
    """Held-out = the split's test models; the pool = its training models, minus one family.

    `*_models` map model id -> family (architecture). When every test family also has
    training models, the test family with the fewest training models (ties by seeded hash)
    is removed from the pool, so the held-out set always includes an unseen architecture.
    `hold_out_family=False` keeps every training model in the pool (held-out generators are
    then unseen models of seen families; `lofo_plan` measures unseen families separately).
    """
    if not test_models:
        raise ValueError("the split has no test (held-out) models")
    fam = {**train_models, **test_models}
    test_fams = {test_models[m] for m in test_models}
    unseen = sorted(test_fams - set(train_models.values()))
    if not unseen and hold_out_family:
        counts = {f: sum(1 for m in train_models if train_models[m] == f) for f in test_fams}
        unseen = [min(test_fams, key=lambda f: (counts[f], derive_seed("unseen", seed, f)))]
    pool = tuple(sorted(m for m, f in train_models.items() if f not in unseen))
    if not pool:
        raise ValueError(
            f"no training model left once family {unseen} is held out; sample more models"
        )
    return StudyDesign(tuple(sorted(test_models)), pool, tuple(unseen), fam)


def distinct_subsets(pool: Sequence[str], k: int, n_draws: int, seed: int) -> list[tuple[str, ...]]:
    """Up to `n_draws` distinct k-subsets of the pool, seeded: every subset when fewer exist
    (the whole pool has one), never a subset twice (a repeated subset would count the same
    generators as two draws)."""
    n = len(pool)
    rng = np.random.default_rng(derive_seed("scaling-subsets", seed, k))
    if math.comb(n, k) <= n_draws:
        every = list(combinations(pool, k))
        return [every[i] for i in rng.permutation(len(every))]
    seen: list[tuple[str, ...]] = []
    while len(seen) < n_draws:
        pick = tuple(pool[i] for i in sorted(rng.choice(n, size=k, replace=False)))
        if pick not in seen:
            seen.append(pick)
    return seen


def draw_plan(
    design: StudyDesign,
    per_model_images: Mapping[str, int],
    *,
    n_draws: int = 5,
    control_draws: int = 2,
    max_control_multiplier: int = 4,
    fake_budget: int = 0,
    seed: int = 0,
    every_single: bool = False,
) -> list[Draw]:
    """Every run of the study: main draws for each k, then control draws.

    Each k gets `n_draws` distinct subsets (every subset when fewer exist); with
    `every_single`, k = 1 gets every pool generator alone, whatever `n_draws`.

    The fake budget (0 = the fewest images any pool model has, so k = 1 can meet it) is the
    same for every main draw. Control: the whole pool (the largest k) with budget x 2, 4, ...
    (while the pool holds enough images, at most `max_control_multiplier`); its x 1 point is
    the main curve's largest k, so it is not trained twice.
    """
    if n_draws < 1 or control_draws < 0:
        raise ValueError(f"n_draws must be >= 1 and control_draws >= 0, got {n_draws}, {control_draws}")
    missing = [m for m in design.pool if per_model_images.get(m, 0) <= 0]
    if missing:
        raise ValueError(f"pool models without images: {missing}")
    budget = fake_budget or min(per_model_images[m] for m in design.pool)
    smallest = min(per_model_images[m] for m in design.pool)
    if budget > smallest:
        raise ValueError(
            f"fake budget {budget} exceeds the {smallest} images of the smallest pool model; "
            "k = 1 could not meet it"
        )
    plan: list[Draw] = []
    for k in scaling_sizes(len(design.pool)):
        draws = len(design.pool) if k == 1 and every_single else n_draws
        for d, models in enumerate(distinct_subsets(design.pool, k, draws, seed)):
            plan.append(Draw(k, d, False, models, budget,
                             derive_seed("scaling-draw", seed, k, d),
                             derive_seed("scaling-init", seed, k, d)))  # fmt: skip
    total = sum(per_model_images[m] for m in design.pool)
    m = 2
    while control_draws and m <= max_control_multiplier and budget * m <= total:
        for d in range(control_draws):
            plan.append(Draw(len(design.pool), d, True, design.pool, budget * m,
                             derive_seed("scaling-control-draw", seed, m, d),
                             derive_seed("scaling-control-init", seed, m, d)))  # fmt: skip
        m *= 2
    return plan


def lofo_plan(
    design: StudyDesign, train_models: Sequence[str], budget: int, seed: int = 0
) -> list[Draw]:
    """Leave-one-family-out: per family, one run on every training model of the OTHER
    families (the same fake budget as the main curve), to be scored on the left-out family.

    Families with no training model of their own, or that would leave no training model,
    are skipped (nothing to compare).
    """
    fams = sorted({design.families[m] for m in train_models})
    plan = []
    for f in fams if len(fams) > 1 else []:
        models = tuple(sorted(m for m in train_models if design.families[m] != f))
        plan.append(Draw(len(models), 0, False, models, budget,
                         derive_seed("lofo-draw", seed, f), derive_seed("lofo-init", seed, f),
                         left_out=f))  # fmt: skip
    return plan


def lofo_curve_plan(
    design: StudyDesign, train_models: Sequence[str], budget: int, *, n_draws: int,
    seed: int = 0,
) -> list[Draw]:
    """The leave-one-family-out curve: for k = 1, 2, 4, ... up to the fewest generators any
    family leaves to the others, `n_draws` runs each leaving out a family in turn (seeded
    order) and training on k generators drawn from the other families; scored on the
    left-out family like `lofo_plan`'s runs. Unseen-family AP as a function of how many
    generators of other families a detector trained on."""
    fams = sorted({design.families[m] for m in train_models})
    if len(fams) < 2 or n_draws < 1:
        return []
    others = {f: sorted(m for m in train_models if design.families[m] != f) for f in fams}
    rng = np.random.default_rng(derive_seed("lofo-curve-order", seed))
    order = [fams[i] for i in rng.permutation(len(fams))]
    plan = []
    for k in scaling_sizes(min(len(v) for v in others.values())):
        for d in range(n_draws):
            f = order[d % len(order)]
            pick = np.random.default_rng(derive_seed("lofo-curve-draw", seed, k, d))
            models = tuple(sorted(others[f][i] for i in pick.choice(len(others[f]), k,
                                                                    replace=False)))  # fmt: skip
            plan.append(Draw(k, d, False, models, budget,
                             derive_seed("lofo-curve-draw", seed, k, d),
                             derive_seed("lofo-curve-init", seed, k, d), left_out=f))  # fmt: skip
    return plan


def allocate(models: Sequence[str], per_model_images: Mapping[str, int], n_fake: int) -> dict[str, int]:
    """Fakes per model: as even as the models' image counts allow, summing to `n_fake`."""
    counts = {m: per_model_images[m] for m in models}
    if sum(counts.values()) < n_fake:
        raise ValueError(f"models {list(models)} hold {sum(counts.values())} images < {n_fake}")
    return water_fill(counts, n_fake)


def families_of(models: Sequence[str], families: Mapping[str, str]) -> int:
    """How many architectures the models cover."""
    return len({families[m] for m in models})


def summarize(rows: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    """Per (control, k, images): mean/std/min/max of held-out mean-AP over draws."""
    groups: dict[tuple, list[Mapping[str, object]]] = {}
    for r in rows:
        if r.get("left_out_family"):
            continue  # leave-one-family-out rows: see lofo_table
        key = (bool(r["control"]), int(r["n_train_models"]), int(r["n_train_fake"]))
        groups.setdefault(key, []).append(r)
    out = []
    for (control, k, n_fake), rs in sorted(groups.items()):
        aps = [float(r["ap"]) for r in rs if r["ap"] is not None]  # type: ignore[arg-type]
        out.append({
            "control": control, "n_train_models": k, "n_train_fake": n_fake, "draws": len(rs),
            "ap_mean": statistics.fmean(aps) if aps else None,
            "ap_std": statistics.stdev(aps) if len(aps) > 1 else 0.0 if aps else None,
            "ap_min": min(aps) if aps else None, "ap_max": max(aps) if aps else None,
            "n_families": statistics.fmean(int(r["n_families"]) for r in rs),  # type: ignore[arg-type]
            "seen_ap_mean": _mean(r.get("seen_ap") for r in rs),
        })  # fmt: skip
    return out


def _mean(values: object) -> float | None:
    vals = [float(v) for v in values if v is not None]  # type: ignore[attr-defined]
    return statistics.fmean(vals) if vals else None


def lofo_table(rows: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    """One row per left-out family: AP on its generators (never trained on) next to AP on
    held-out generators of the families that were trained on, and on seen generators."""
    out = []
    for r in sorted((r for r in rows if r.get("protocol") in (None, "leave_one_family_out")
                     and r.get("left_out_family")),
                    key=lambda r: str(r["left_out_family"])):  # fmt: skip
        out.append({
            "left_out_family": r["left_out_family"], "n_train_models": r["n_train_models"],
            "ap_left_out_family": r["ap"], "ap_other_heldout": r.get("ap_other"),
            "seen_ap": r.get("seen_ap"), "n_left_out_models": r["n_heldout_models"],
        })  # fmt: skip
    return out
