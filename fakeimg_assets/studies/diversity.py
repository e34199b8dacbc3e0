"""The diversity study's design as pure functions: the paper's second finding.

Question: at a FIXED number k of training generators and a FIXED number of fake images
(and the same real sample), does a detector trained on generators spread over many
families beat one trained on generators of a single family? Two conditions, several draws
each, every detector scored on the same held-out generators (the split's test side):

- 'single_family': k generators of one family (families with at least k training-side
  generators take turns, draw by draw);
- 'multi_family': k generators covering as many families as possible (min(k, families)),
  split among them as evenly as the families' sizes allow.

Each draw is a distinct generator subset where enough exist (never the same subset twice:
two copies would count one set of generators as two draws), with its own draw seed (which
images) and init seed (the detector's weights and augmentation).

A "family" is the generator's architecture (`family_by='architecture'`; a generator with
no architecture, e.g. from a collection without one, counts under its family group) or its
family group in the paper's sense (`family_by='family_group'`).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import polars as pl

from fakeimg_assets.detection.data import water_fill
from fakeimg_assets.lib.paths import derive_seed
from fakeimg_assets.studies.training_frames import fake_sample, seeded_head

FAMILY_BY = ("architecture", "family_group")
SINGLE, MULTI = "single_family", "multi_family"
CONDITIONS = (SINGLE, MULTI)
UNKNOWN = "unknown"
ENUMERATE_LIMIT = 20_000  # subsets listed exhaustively below this many, sampled above
MAX_TRIES_PER_DRAW = 200  # sampling: attempts per wanted draw before settling for fewer


@dataclass(frozen=True)
class DiversityDraw:
    """One training run of the study."""

    condition: str
    draw: int
    models: tuple[str, ...]
    families: tuple[str, ...]  # the distinct families its models cover, sorted
    n_fake: int
    draw_seed: int
    init_seed: int


@dataclass(frozen=True)
class DiversityDesign:
    """Everything fixed before any detector trains."""

    k: int
    n_fake: int
    family_by: str
    heldout: tuple[str, ...]
    families: Mapping[str, str]  # training-side generator -> family
    draws: tuple[DiversityDraw, ...]

    def of(self, condition: str) -> list[DiversityDraw]:
        return [d for d in self.draws if d.condition == condition]


def check_family_by(family_by: object) -> str:
    if family_by not in FAMILY_BY:
        raise ValueError(
            f"family_by must be 'architecture' or 'family_group', got {family_by!r}"
        )
    return str(family_by)


def generator_families(fakes: pl.DataFrame, family_by: str) -> dict[str, str]:
    """`{generator: family}` of the fake rows (columns source, architecture, family_group)."""
    check_family_by(family_by)
    out: dict[str, str] = {}
    for r in fakes.select("source", "architecture", "family_group").unique().iter_rows(named=True):
        if family_by == "architecture":
            fam = r["architecture"] or r["family_group"] or UNKNOWN
        else:
            fam = r["family_group"] or UNKNOWN
        if out.get(r["source"], fam) != fam:
            raise ValueError(f"generator {r['source']!r} has rows of two families: "
                             f"{out[r['source']]!r} and {fam!r}")  # fmt: skip
        out[r["source"]] = fam
    return out


def _members(families: Mapping[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in sorted(families):
        out.setdefault(families[m], []).append(m)
    return out


def choose_k(families: Mapping[str, str], requested: int = 0) -> int:
    """The study's k: `requested`, or (0) the largest k that a single family can fill and
    that as many families exist for (min of the biggest family's size and the number of
    families). Refused when it cannot contrast one family with several."""
    groups = _members(families)
    sizes = {f: len(v) for f, v in groups.items()}
    if len(groups) < 2:
        raise ValueError(
            f"the diversity study needs training-side generators of at least 2 families; "
            f"found {len(groups)} ({sorted(groups)}) among {len(families)} generator(s)"
        )
    biggest = max(sizes.values())
    if requested < 0 or requested == 1:
        raise ValueError(f"n_train_models must be 0 (auto) or >= 2, got {requested}: with one "
                         "generator one family and many families are the same draw")  # fmt: skip
    k = requested or min(biggest, len(groups))
    if k < 2 or biggest < k:
        largest = max(sizes, key=lambda f: (sizes[f], f))
        raise ValueError(
            f"no family has {max(k, 2)} training-side generators for the single-family "
            f"condition (largest: {largest!r} with {biggest}); sizes {dict(sorted(sizes.items()))}"
        )
    return k


def _permuted(items: Sequence, rng: np.random.Generator) -> list:
    return [items[i] for i in rng.permutation(len(items))]


def _sampled(draw, n_draws: int) -> list[tuple[str, ...]]:  # noqa: ANN001
    seen: list[tuple[str, ...]] = []
    for _ in range(MAX_TRIES_PER_DRAW * n_draws):
        pick = draw()
        if pick not in seen:
            seen.append(pick)
            if len(seen) == n_draws:
                break
    return seen


def single_family_subsets(
    families: Mapping[str, str], k: int, n_draws: int, seed: int = 0
) -> list[tuple[str, ...]]:
    """Up to `n_draws` distinct k-subsets each inside one family; the families that hold k
    generators take turns (seeded order), so the condition is not one family's luck."""
    groups = {f: v for f, v in _members(families).items() if len(v) >= k}
    if not groups:
        raise ValueError(f"no family has {k} training-side generators")
    rng = np.random.default_rng(derive_seed("diversity-single", seed, k))
    order = _permuted(sorted(groups), rng)

    def stream(members: list[str]) -> Iterator[tuple[str, ...]]:
        if math.comb(len(members), k) <= ENUMERATE_LIMIT:
            yield from _permuted(list(combinations(members, k)), rng)
            return
        yield from _sampled(lambda: tuple(sorted(rng.choice(members, k, replace=False))),
                            n_draws)  # fmt: skip

    streams = {f: stream(groups[f]) for f in order}
    out: list[tuple[str, ...]] = []
    while streams and len(out) < n_draws:
        for f in list(streams):
            pick = next(streams[f], None)
            if pick is None:
                del streams[f]
            elif len(out) < n_draws:
                out.append(tuple(sorted(pick)))
    return out


def is_spread(models: Sequence[str], families: Mapping[str, str], k: int) -> bool:
    """True when `models` (k of them) cover min(k, families) families, split among them as
    evenly as those families' sizes allow."""
    groups = _members(families)
    counts = Counter(families[m] for m in models)
    if len(models) != k or len(set(models)) != k or len(counts) != min(k, len(groups)):
        return False
    even = water_fill({f: len(groups[f]) for f in counts}, k)
    return sorted(counts.values()) == sorted(even.values())


def multi_family_subsets(
    families: Mapping[str, str], k: int, n_draws: int, seed: int = 0
) -> list[tuple[str, ...]]:
    """Up to `n_draws` distinct k-subsets spread over as many families as possible."""
    groups = _members(families)
    pool = sorted(families)
    rng = np.random.default_rng(derive_seed("diversity-multi", seed, k))
    if math.comb(len(pool), k) <= ENUMERATE_LIMIT:
        every = [c for c in combinations(pool, k) if is_spread(c, families, k)]
        return _permuted(every, rng)[:n_draws]
    m = min(k, len(groups))

    def draw() -> tuple[str, ...]:
        fams = _permuted(sorted(groups), rng)[:m]
        # ranks as names: water_fill breaks ties by name, so the seeded order decides
        alloc = water_fill({f"{i:06d}": len(groups[f]) for i, f in enumerate(fams)}, k)
        picks = [m_ for i, f in enumerate(fams)
                 for m_ in rng.choice(groups[f], alloc[f"{i:06d}"], replace=False)]  # fmt: skip
        return tuple(sorted(str(p) for p in picks))

    return _sampled(draw, n_draws)


def design_diversity(
    train_families: Mapping[str, str],
    heldout: Sequence[str],
    per_model_images: Mapping[str, int],
    *,
    family_by: str = "architecture",
    k: int = 0,
    n_draws: int = 3,
    fake_budget: int = 0,
    n_reals: int | None = None,
    seed: int = 0,
) -> DiversityDesign:
    """The whole study: k, the fake budget, and every draw of both conditions.

    `train_families`: training-side generators (with images) -> family; `heldout`: the
    test-side generators every detector is scored on; `n_reals`: the training-side reals
    (every run trains on as many reals as fakes, the same sample). The fake budget (0 = the
    most that every planned draw, and the reals, can provide) is the same for every draw.
    """
    check_family_by(family_by)
    if fake_budget < 0:
        raise ValueError(f"fake_images must be >= 0 (0 = auto), got {fake_budget}")
    if n_draws < 1:
        raise ValueError(f"draws must be >= 1, got {n_draws}")
    if not heldout:
        raise ValueError("the split has no test-side (held-out) generators to score on")
    overlap = sorted(set(heldout) & set(train_families))
    if overlap:
        raise ValueError(f"generators on both sides of the split: {overlap}")
    missing = sorted(m for m in train_families if per_model_images.get(m, 0) <= 0)
    if missing:
        raise ValueError(f"training-side generators without images: {missing}")
    k = choose_k(train_families, k)
    picks = {SINGLE: single_family_subsets(train_families, k, n_draws, seed),
             MULTI: multi_family_subsets(train_families, k, n_draws, seed)}  # fmt: skip
    capacity = {c: [sum(per_model_images[m] for m in p) for p in ps] for c, ps in picks.items()}
    smallest = min(min(v) for v in capacity.values())
    if n_reals is not None and n_reals < 1:
        raise ValueError("the split's training side holds no real images")
    budget = fake_budget or min(smallest, n_reals if n_reals is not None else smallest)
    if n_reals is not None and budget > n_reals:
        raise ValueError(f"fake budget {budget} exceeds the {n_reals} training-side reals "
                         "(each run trains on as many reals as fakes)")
    if budget > smallest:
        worst = min(((c, p) for c, ps in picks.items() for p in ps),
                    key=lambda cp: sum(per_model_images[m] for m in cp[1]))  # fmt: skip
        raise ValueError(
            f"fake budget {fake_budget} cannot be met: the {worst[0]} draw {list(worst[1])} "
            f"holds {smallest} fake images (0 = that many)"
        )
    draws = []
    for condition in CONDITIONS:
        for d, models in enumerate(picks[condition]):
            draws.append(DiversityDraw(
                condition, d, models, tuple(sorted({train_families[m] for m in models})), budget,
                derive_seed("diversity-draw", seed, condition, d),
                derive_seed("diversity-init", seed, condition, d)))  # fmt: skip
    return DiversityDesign(k, budget, family_by, tuple(sorted(heldout)), dict(train_families),
                           tuple(draws))  # fmt: skip


def draw_frames(
    design: DiversityDesign, fakes: pl.DataFrame, reals: pl.DataFrame, seed: int = 0
) -> list[tuple[DiversityDraw, pl.DataFrame]]:
    """Each draw's training frame: its models' share of the fake budget (as even as their
    image counts allow, images picked by the draw's seed) plus ONE real sample of as many
    reals, the same for every draw of the study."""
    per_model = dict(fakes.group_by("source").len().iter_rows())
    real_sample = seeded_head(reals, design.n_fake, "diversity-reals", seed)
    if real_sample.height < design.n_fake:
        raise ValueError(f"{reals.height} training-side reals < the {design.n_fake} needed")
    out = []
    for d in design.draws:
        counts = {m: per_model.get(m, 0) for m in d.models}
        if sum(counts.values()) < d.n_fake:
            raise ValueError(f"draw {d.condition} {d.draw}: models {list(d.models)} hold "
                             f"{sum(counts.values())} fakes < {d.n_fake}")  # fmt: skip
        alloc = water_fill(counts, d.n_fake)
        out.append((d, pl.concat([fake_sample(fakes, alloc, "diversity-fakes", d.draw_seed),
                                  real_sample])))  # fmt: skip
    return out


def summarize(rows: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    """Per condition: draws, mean/std/min/max of held-out mean AP, mean families covered."""
    out = []
    for condition in CONDITIONS:
        rs = [r for r in rows if r["condition"] == condition]
        aps = [float(r["ap"]) for r in rs if r["ap"] is not None]  # type: ignore[arg-type]
        out.append({
            "condition": condition, "draws": len(rs),
            "ap_mean": statistics.fmean(aps) if aps else None,
            "ap_std": statistics.stdev(aps) if len(aps) > 1 else 0.0 if aps else None,
            "ap_min": min(aps) if aps else None, "ap_max": max(aps) if aps else None,
            "n_families": statistics.fmean(int(r["n_families"]) for r in rs)  # type: ignore[arg-type]
                          if rs else None,
        })  # fmt: skip
    return out
