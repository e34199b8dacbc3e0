"""Diversity study: the pure design (k, conditions, draws, budget), the verdict's interval
and the plot, on hand-made inputs."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import polars as pl
import pytest
from PIL import Image

from fakeimg_assets.studies import diversity
from fakeimg_assets.studies.diversity import (
    MULTI,
    SINGLE,
    check_family_by,
    choose_k,
    design_diversity,
    draw_frames,
    generator_families,
    is_spread,
    multi_family_subsets,
    single_family_subsets,
    summarize,
)
from fakeimg_assets.studies.diversity_plot import diversity_png
from fakeimg_assets.studies.diversity_verdict import difference_bootstrap, verdict
from fakeimg_assets.studies.verdict import RunScores


def fams(**sizes: int) -> dict[str, str]:
    """{generator: family} with `sizes[family]` generators per family."""
    return {f"{f}/g{i}": f for f, n in sizes.items() for i in range(n)}


def _design(families, n_images=10, **kw):
    per = {m: n_images for m in families}
    return design_diversity(families, ["held/x", "held/y"], per, **kw)


# ---------------------------------------------------------------- k


def test_auto_k_is_what_one_family_fills_and_that_many_families_exist() -> None:
    assert choose_k(fams(a=4, b=1, c=1)) == 3  # 3 families, the biggest holds 4
    assert choose_k(fams(a=2, b=5)) == 2
    assert choose_k(fams(a=4, b=4, c=4, d=4, e=4)) == 4
    assert choose_k(fams(a=4, b=1), 4) == 4  # explicit: more generators than families is fine


def test_k_refusals_name_what_is_missing() -> None:
    with pytest.raises(ValueError, match=r"at least 2 families; found 1 \(\['a'\]\)"):
        choose_k(fams(a=5))
    with pytest.raises(ValueError, match="no family has 2 training-side generators"):
        choose_k(fams(a=1, b=1, c=1))
    with pytest.raises(ValueError, match=r"no family has 5 .*largest: 'a' with 4"):
        choose_k(fams(a=4, b=3), 5)
    for bad in (1, -2):
        with pytest.raises(ValueError, match="n_train_models must be 0"):
            choose_k(fams(a=4, b=3), bad)


# ---------------------------------------------------------------- conditions and draws


def test_conditions_are_one_family_vs_as_many_as_possible_at_fixed_k_and_budget() -> None:
    f = fams(a=5, b=2, c=2, d=1)
    d = _design(f, n_draws=3, seed=1)
    assert d.k == 4  # min(biggest family 5, 4 families)
    single, multi = d.of(SINGLE), d.of(MULTI)
    assert len(single) == len(multi) == 3
    for draw in single:
        assert len({f[m] for m in draw.models}) == 1 and draw.families == (f[draw.models[0]],)
    for draw in multi:
        assert len({f[m] for m in draw.models}) == 4 == len(draw.families)
    for draw in d.draws:
        assert len(draw.models) == len(set(draw.models)) == d.k
        assert draw.n_fake == d.n_fake
        assert not set(draw.models) & set(d.heldout)
    assert len({x.models for x in single}) == 3 and len({x.models for x in multi}) == 3
    seeds = [x.draw_seed for x in d.draws] + [x.init_seed for x in d.draws]
    assert len(set(seeds)) == len(seeds)
    assert d.heldout == ("held/x", "held/y")  # one held-out set for every draw
    assert _design(f, n_draws=3, seed=1) == d  # reproducible
    assert [x.models for x in _design(f, n_draws=3, seed=2).draws] != [x.models for x in d.draws]


def test_single_family_draws_take_turns_over_the_families_that_can_fill_k() -> None:
    f = fams(a=3, b=3, c=1)
    picks = single_family_subsets(f, 3, 2, seed=0)
    assert sorted(f[p[0]] for p in picks) == ["a", "b"]  # one subset each, not two of one
    # only one subset exists per family: 3 draws asked, 2 distinct given, none repeated
    assert len(single_family_subsets(f, 3, 3, seed=0)) == 2


def test_draws_are_distinct_and_fewer_when_fewer_subsets_exist() -> None:
    f = fams(a=2, b=1)
    d = _design(f, n_draws=3)
    assert d.k == 2
    assert [x.models for x in d.of(SINGLE)] == [("a/g0", "a/g1")]
    assert sorted(x.models for x in d.of(MULTI)) == [("a/g0", "b/g0"), ("a/g1", "b/g0")]
    assert [x.draw for x in d.of(MULTI)] == [0, 1]


def test_multi_family_draws_split_as_evenly_as_family_sizes_allow() -> None:
    f = fams(a=4, b=4)
    for p in multi_family_subsets(f, 4, 5, seed=0):
        assert Counter(f[m] for m in p) == {"a": 2, "b": 2}
    f = fams(a=5, b=1)
    for p in multi_family_subsets(f, 4, 5, seed=0):
        assert Counter(f[m] for m in p) == {"a": 3, "b": 1}
    assert is_spread(("a/g0", "a/g1", "b/g0", "b/g1"), fams(a=4, b=4), 4)
    assert not is_spread(("a/g0", "a/g1", "a/g2", "b/g0"), fams(a=4, b=4), 4)
    assert is_spread(("a/g0", "b/g0"), fams(a=4, b=4, c=1), 2)  # k = 2: 2 of 3 families
    assert not is_spread(("a/g0", "a/g1"), fams(a=4, b=4, c=1), 2)


def test_large_pools_are_sampled_with_the_same_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diversity, "ENUMERATE_LIMIT", 0)
    f = fams(a=6, b=3, c=3, d=2)
    multi = multi_family_subsets(f, 4, 5, seed=3)
    single = single_family_subsets(f, 4, 5, seed=3)
    assert len(multi) == len(set(multi)) == 5 and len(single) == len(set(single)) == 5
    assert all(is_spread(p, f, 4) for p in multi)
    assert all(len({f[m] for m in p}) == 1 and len(p) == 4 for p in single)
    assert multi_family_subsets(f, 4, 5, seed=3) == multi
    # a small space sampled: every subset it has, none twice
    small = fams(a=3, b=1)
    assert sorted(multi_family_subsets(small, 2, 5, seed=0)) == [
        ("a/g0", "b/g0"), ("a/g1", "b/g0"), ("a/g2", "b/g0")]
    assert single_family_subsets(small, 3, 4, seed=0) == [("a/g0", "a/g1", "a/g2")]


# ---------------------------------------------------------------- budget and inputs


def test_budget_is_what_every_draw_and_the_reals_can_provide() -> None:
    f = fams(a=3, b=2)
    per = {m: 10 for m in f} | {"a/g0": 4}
    d = design_diversity(f, ["h/x"], per, n_draws=5)
    smallest = min(sum(per[m] for m in x.models) for x in d.draws)
    assert d.n_fake == smallest and {x.n_fake for x in d.draws} == {smallest}
    assert design_diversity(f, ["h/x"], per, n_draws=5, n_reals=5).n_fake == 5
    with pytest.raises(ValueError, match=rf"fake budget {smallest + 1} cannot be met.*holds "
                                         rf"{smallest}"):
        design_diversity(f, ["h/x"], per, n_draws=5, fake_budget=smallest + 1)
    with pytest.raises(ValueError, match="exceeds the 3 training-side reals"):
        design_diversity(f, ["h/x"], per, fake_budget=4, n_reals=3)
    with pytest.raises(ValueError, match="no real images"):
        design_diversity(f, ["h/x"], per, n_reals=0)
    with pytest.raises(ValueError, match="fake_images must be >= 0"):
        design_diversity(f, ["h/x"], per, fake_budget=-1)


def test_bad_inputs_are_refused_by_name() -> None:
    f = fams(a=3, b=2)
    per = {m: 10 for m in f}
    with pytest.raises(ValueError, match="no test-side"):
        design_diversity(f, [], per)
    with pytest.raises(ValueError, match=r"both sides of the split: \['a/g0'\]"):
        design_diversity(f, ["a/g0"], per)
    with pytest.raises(ValueError, match=r"without images: \['b/g1'\]"):
        design_diversity(f, ["h/x"], {**per, "b/g1": 0})
    with pytest.raises(ValueError, match="draws must be >= 1"):
        design_diversity(f, ["h/x"], per, n_draws=0)
    with pytest.raises(ValueError, match="'architecture' or 'family_group', got 'arch'"):
        check_family_by("arch")
    with pytest.raises(ValueError, match="'architecture' or 'family_group'"):
        design_diversity(f, ["h/x"], per, family_by="pipeline")


def test_families_come_from_the_chosen_column() -> None:
    rows = pl.DataFrame({
        "source": ["s/1", "s/1", "s/2", "c/3", "c/4"],
        "architecture": ["sd1", "sd1", "sdxl", None, None],
        "family_group": ["latent_diffusion", "latent_diffusion", "latent_diffusion", "gan", None],
    })
    assert generator_families(rows, "architecture") == {
        "s/1": "sd1", "s/2": "sdxl", "c/3": "gan", "c/4": "unknown"}
    assert generator_families(rows, "family_group") == {
        "s/1": "latent_diffusion", "s/2": "latent_diffusion", "c/3": "gan", "c/4": "unknown"}
    clash = pl.DataFrame({"source": ["s/1", "s/1"], "architecture": ["sd1", "sdxl"],
                          "family_group": [None, None]})
    with pytest.raises(ValueError, match="'s/1' has rows of two families"):
        generator_families(clash, "architecture")


def test_draw_frames_share_one_real_sample_and_keep_the_budget() -> None:
    f = fams(a=3, b=2)
    fakes = pl.DataFrame([{"image_id": f"{m}-{i}", "source": m, "label": "fake"}
                          for m in f for i in range(7)])
    reals = pl.DataFrame([{"image_id": f"r-{i}", "source": "photos", "label": "real"}
                          for i in range(40)])
    per = dict(fakes.group_by("source").len().iter_rows())
    d = design_diversity(f, ["h/x"], per, n_draws=3, n_reals=reals.height, seed=4)
    frames = draw_frames(d, fakes, reals, seed=4)
    assert [x for x, _ in frames] == list(d.draws)
    real_ids = None
    for draw, frame in frames:
        fk = frame.filter(pl.col("label") == "fake")
        assert fk.height == d.n_fake and set(fk["source"]) <= set(draw.models)
        assert fk["image_id"].n_unique() == fk.height
        counts = fk.group_by("source").len()["len"].to_list()
        assert max(counts) - min(counts) <= 1  # as even as the models allow
        ids = sorted(frame.filter(pl.col("label") == "real")["image_id"])
        assert len(ids) == d.n_fake
        real_ids = real_ids or ids
        assert ids == real_ids  # the same real sample for every run
    with pytest.raises(ValueError, match="training-side reals < the"):
        draw_frames(d, fakes, reals.head(3), seed=4)


# ---------------------------------------------------------------- verdict


def _runs(aps_by_draw: list[list[float]], k: int = 2) -> list[RunScores]:
    return [RunScores(k, d, {f"g{i}": a for i, a in enumerate(aps)})
            for d, aps in enumerate(aps_by_draw)]


def test_difference_is_multi_minus_single_with_an_interval() -> None:
    single = _runs([[0.60, 0.62, 0.58], [0.61, 0.59, 0.60]])
    multi = _runs([[0.80, 0.82, 0.78], [0.79, 0.81, 0.80]])
    est = difference_bootstrap(single, multi, n_boot=500)
    assert est.estimate == pytest.approx(0.2, abs=1e-9)
    assert 0 < est.ci_low <= est.estimate <= est.ci_high
    same = difference_bootstrap(single, single, n_boot=500)
    assert same.estimate == 0 and same.ci_low <= 0 <= same.ci_high


def test_generators_are_resampled_once_for_both_conditions() -> None:
    """Generators differ widely but multi is single + 0.1 on every one: with the generator
    resample shared, every replicate's difference is exactly 0.1."""
    base = [0.5, 0.95, 0.6, 0.99, 0.7]
    single = _runs([base])
    multi = _runs([[a + 0.01 * 10 for a in base]])
    est = difference_bootstrap(single, multi, n_boot=400)
    assert est.ci_low == pytest.approx(0.1) and est.ci_high == pytest.approx(0.1)


def test_draws_are_resampled_within_each_condition() -> None:
    """One generator: only the draws vary, so the interval is the draws' spread."""
    est = difference_bootstrap(_runs([[0.5], [0.7]]), _runs([[0.8], [0.8]]), n_boot=400)
    assert est.estimate == pytest.approx(0.2)
    assert est.ci_low == pytest.approx(0.1) and est.ci_high == pytest.approx(0.3)


def test_verdict_refuses_runs_scored_on_other_generators() -> None:
    with pytest.raises(ValueError, match="other held-out generators"):
        difference_bootstrap(_runs([[0.5, 0.6]]), [RunScores(2, 0, {"g0": 0.5, "zz": 0.5})])
    with pytest.raises(ValueError, match="both conditions"):
        difference_bootstrap([], _runs([[0.5]]))


def _rows(single: list[float], multi: list[float]) -> list[dict]:
    out = []
    for condition, aps in ((SINGLE, single), (MULTI, multi)):
        for d, a in enumerate(aps):
            out.append({"condition": condition, "draw": d, "n_train_models": 3, "ap": a,
                        "n_families": 1 if condition == SINGLE else 3,
                        "generator_ap": json.dumps({"g0": a, "g1": a})})
    return out


def test_verdict_summary_and_plot() -> None:
    rows = _rows([0.6, 0.65, 0.7], [0.85, 0.9, 0.95])
    v = verdict(rows, n_boot=300)
    assert v[SINGLE]["estimate"] == pytest.approx(0.65)
    assert v[MULTI]["estimate"] == pytest.approx(0.9)
    assert v["difference"]["estimate"] == pytest.approx(0.25)
    assert v["difference"]["holds"] is True
    for key in (SINGLE, MULTI, "difference"):
        assert v[key]["ci_low"] <= v[key]["estimate"] <= v[key]["ci_high"]
    assert verdict(_rows([0.7, 0.9], [0.8, 0.8]), n_boot=300)["difference"]["holds"] is False
    s = {r["condition"]: r for r in summarize(rows)}
    assert s[SINGLE]["draws"] == 3 and s[MULTI]["n_families"] == 3
    assert s[SINGLE]["ap_std"] == pytest.approx(float(np.std([0.6, 0.65, 0.7], ddof=1)))
    png = diversity_png(rows, v, k=3, n_fake=12, family_by="architecture")
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size == (560, 420)
        # the multi condition's mean dot is drawn in blue in the right half
        px = np.asarray(im.convert("RGB"))
        right = px[:, 300:]
        assert ((right == (31, 90, 170)).all(axis=2)).any()
