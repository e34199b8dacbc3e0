"""Draws that mean something: every generator alone at k = 1, distinct subsets above,
and the leave-one-family-out curve's runs."""

from __future__ import annotations

from fakeimg_assets.studies.scaling import (
    StudyDesign,
    distinct_subsets,
    draw_plan,
    lofo_curve_plan,
)

FAMS = {f"{f}-{i}": f for f in ("sd1", "sdxl", "pixart") for i in range(4)}


def _design() -> StudyDesign:
    pool = tuple(sorted(FAMS))
    return StudyDesign(("x-0",), pool, (), {**FAMS, "x-0": "sd1"})


def test_subsets_are_distinct_and_never_repeat() -> None:
    pool = [f"m{i}" for i in range(5)]
    assert len(distinct_subsets(pool, 5, 5, 0)) == 1  # the whole pool has one subset
    assert len(distinct_subsets(pool, 4, 9, 0)) == 5  # C(5, 4): every one, once
    picks = distinct_subsets(pool, 2, 7, 0)
    assert len(picks) == len(set(picks)) == 7


def test_k1_gives_every_generator_alone() -> None:
    design = _design()
    per_model = dict.fromkeys(design.pool, 10)
    plan = draw_plan(design, per_model, n_draws=3, control_draws=0, every_single=True)
    k1 = [d.models for d in plan if d.k == 1]
    assert sorted(m for (m,) in k1) == sorted(design.pool)
    for k in {d.k for d in plan} - {1}:
        subsets = [d.models for d in plan if d.k == k]
        assert len(subsets) == len(set(subsets)) <= 3
    assert [d.k for d in plan].count(len(design.pool)) == 1
    legacy = draw_plan(design, per_model, n_draws=3, control_draws=0)
    assert [d.k for d in legacy].count(1) == 3


def test_the_lofo_curve_leaves_each_family_out_in_turn() -> None:
    design = _design()
    plan = lofo_curve_plan(design, list(design.pool), 8, n_draws=3, seed=1)
    assert sorted({d.k for d in plan}) == [1, 2, 4, 8]  # 8 = the fewest other-family models
    for k in (1, 2, 4, 8):
        runs = [d for d in plan if d.k == k]
        assert len(runs) == 3 and len({d.left_out for d in runs}) == 3
        for d in runs:
            assert len(d.models) == k and all(FAMS[m] != d.left_out for m in d.models)
    assert lofo_curve_plan(design, ["sd1-0", "sd1-1"], 8, n_draws=3) == []  # one family
