"""The cross-dataset comparison's plan as pure functions: the paper's third finding.

Question: does a detector trained on one source of fakes generalize to the others, and
which source trains the detector that generalizes best? A training source is 'hub' (the
platform's own Hub-sampled fakes: split rows with no collection) or a collection with role
'train' or 'both' that has training-side fakes in the split. Every source trains one
detector on the SAME number of images: n fakes (the fewest any source can provide, capped
by config), spread evenly over the source's generators, plus n reals (the source's own
training-side reals when it has some, else the platform's training-side photo crops).

Each detector is scored on every source's held-out part (its test-side fakes with its own
test-side reals, else the platform's) and on every outside evaluation set; the matrix of
mean-over-generators AP (train source x evaluation set) is the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from fakeimg_assets.lib.paths import name_problem
from fakeimg_assets.studies.scaling import allocate
from fakeimg_assets.studies.training_frames import fake_sample, seeded_head

HUB = "hub"


@dataclass(frozen=True)
class CrossDatasetPlan:
    """What each source trains on and what every detector is scored on."""

    n_images: int  # fakes per detector (and as many reals)
    limited_by: str  # the source whose fakes or reals fixed n (or 'cap')
    train: Mapping[str, pl.DataFrame]  # source -> its training frame (fakes + reals)
    own_reals: Mapping[str, bool]  # source -> trained on its own reals (else the platform's)
    heldout: Mapping[str, pl.DataFrame]  # source -> its held-out part (test fakes + reals)
    match_sizes: Mapping[str, bool]  # held-out part -> pair reals of the fakes' sizes
    skipped: Mapping[str, str] = field(default_factory=dict)  # source -> why no column/row


def source_of(collection: str | None) -> str:
    return HUB if collection is None else collection


def check_sources(collections: Sequence[str]) -> list[str]:
    """The candidate sources: 'hub' then the collections, their names validated."""
    for name in collections:
        problem = name_problem(name, "collection name")
        if problem:
            raise ValueError(f"collection name {name!r}: {problem}")
        if name == HUB:
            raise ValueError(f"a collection named {HUB!r} clashes with the platform's own "
                             "Hub source in the cross-dataset matrix; rename it")  # fmt: skip
    return [HUB, *sorted(set(collections))]


def sizes_covered(frame: pl.DataFrame) -> bool:
    """True when every (width, height) of the frame's fakes also occurs among its reals:
    reals can then be paired at the fakes' own sizes (a size cannot give the class away)."""
    fakes = frame.filter(pl.col("label") == "fake").select("width", "height").unique()
    reals = frame.filter(pl.col("label") == "real").select("width", "height").unique()
    return fakes.join(reals, on=["width", "height"], how="anti").height == 0


def plan_cross_dataset(
    split: pl.DataFrame, collections: Sequence[str], *, fake_cap: int = 0, seed: int = 0
) -> CrossDatasetPlan:
    """The plan over one split (rows with split, label, source, collection, width, height).

    `collections`: the collections with role 'train' or 'both'. Sources with no
    training-side fakes train nothing, sources with no test-side fakes get no column; both
    are listed in `skipped` with the reason. No source to train on is refused.
    """
    if fake_cap < 0:
        raise ValueError(f"fake_images must be >= 0 (0 = no cap), got {fake_cap}")
    sources = check_sources(collections)
    rows = split.with_columns(pl.col("collection").cast(pl.Utf8))

    def part(side: str, label: str, source: str | None) -> pl.DataFrame:
        of = pl.col("collection").is_null() if source in (None, HUB) else (
            pl.col("collection") == source)  # fmt: skip
        return rows.filter((pl.col("split") == side) & (pl.col("label") == label) & of)

    skipped: dict[str, str] = {}
    pools: dict[str, tuple[pl.DataFrame, pl.DataFrame, bool]] = {}
    for s in sources:
        fakes = part("train", "fake", s)
        if fakes.height == 0:
            skipped[s] = "no training-side fakes in the split: trains no detector"
            continue
        own = part("train", "real", s)
        reals = own if own.height else part("train", "real", HUB)
        if reals.height == 0:
            skipped[s] = "no training-side reals of its own or of the platform: trains nothing"
            continue
        pools[s] = (fakes, reals, bool(own.height))
    if not pools:
        why = "; ".join(f"{s}: {r}" for s, r in skipped.items())
        raise ValueError(f"no training source: {why}")
    limits = {s: min(f.height, r.height) for s, (f, r, _) in pools.items()}
    limited_by = min(limits, key=lambda s: (limits[s], s))
    n = limits[limited_by]
    if fake_cap and fake_cap < n:
        n, limited_by = fake_cap, "cap"
    train = {}
    for s, (fakes, reals, _) in pools.items():
        per_model = dict(fakes.group_by("source").len().iter_rows())
        alloc = allocate(sorted(per_model), per_model, n)
        train[s] = pl.concat([fake_sample(fakes, alloc, "cross-dataset-fakes", seed, s),
                              seeded_head(reals, n, "cross-dataset-reals", seed, s)])  # fmt: skip
    heldout, match = {}, {}
    for s in sources:
        fakes = part("test", "fake", s)
        if fakes.height == 0:
            skipped[s] = (skipped[s] + "; " if s in skipped else "") + (
                "no test-side fakes in the split: no held-out column")  # fmt: skip
            continue
        own = part("test", "real", s)
        frame = pl.concat([fakes, own if own.height else part("test", "real", HUB)])
        heldout[s] = frame
        match[s] = True if s == HUB else sizes_covered(frame)
    return CrossDatasetPlan(n, limited_by, train, {s: p[2] for s, p in pools.items()}, heldout,
                            match, skipped)  # fmt: skip


def matrix(rows: Sequence[Mapping[str, object]]) -> dict[tuple[str, str], float | None]:
    """`{(train_source, eval_set): mean-over-generators AP}` of unperturbed result rows."""
    out: dict[tuple[str, str], float | None] = {}
    for r in rows:
        if r["group_kind"] != "mean_over_models" or r.get("perturbation") is not None:
            continue
        key = (str(r["train_source"]), str(r["eval_set"]))
        if key in out:
            raise ValueError(f"two mean-over-models rows for train source {key[0]!r} and "
                             f"evaluation set {key[1]!r}")  # fmt: skip
        out[key] = None if r["ap"] is None else float(r["ap"])  # type: ignore[arg-type]
    return out


def axes(cells: Mapping[tuple[str, str], object]) -> tuple[list[str], list[str]]:
    """(train sources, evaluation sets) in display order: 'hub' first, then by name."""

    def order(names: set[str]) -> list[str]:
        return sorted(names, key=lambda n: (n != HUB, n))

    return order({t for t, _ in cells}), order({e for _, e in cells})


def matrix_rows(cells: Mapping[tuple[str, str], float | None]) -> list[dict[str, object]]:
    """The matrix as table rows: one per train source (`train \\ eval`), one column per
    evaluation set holding its AP (None where nothing was scored)."""
    trains, evals = axes(cells)
    return [{"train \\ eval": t, **{e: cells.get((t, e)) for e in evals}} for t in trains]
