"""Evaluation that compares, as pure functions: balanced sets, intervals, protocols,
robustness. The asset chain itself: test_evaluation_assets.py."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from PIL import Image

from fakeimg_assets.evaluation.bootstrap import (
    ap_replicates,
    cluster_weights,
    interval,
    weighted_ap,
)
from fakeimg_assets.evaluation.metrics import binary_metrics
from fakeimg_assets.evaluation.perturb import PERTURBATIONS, perturb
from fakeimg_assets.evaluation.protocols import family_runs, protocol_frames, time_windows
from fakeimg_assets.evaluation.rows import balanced_sets, evaluation_rows
from tests.helpers.learnable_home import T0, frame

# -- metrics and bootstrap ------------------------------------------------------------------


def test_numpy_ap_and_auc_equal_scikit_learn_with_ties() -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(1)
    for _ in range(100):
        n = int(rng.integers(2, 60))
        y = rng.integers(0, 2, n)
        y[:2] = [1, 0]
        s = np.round(rng.random(n), int(rng.integers(1, 3)))
        m = binary_metrics(y.tolist(), s.tolist())
        assert m["ap"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
        assert m["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_cluster_weights_draw_whole_clusters_then_members() -> None:
    rng = np.random.default_rng(0)
    clusters = ["a"] * 3 + ["b"] * 5 + ["c"]
    w = cluster_weights(rng, clusters, 500)
    assert w.shape == (500, 9) and (w.sum(axis=1) > 0).all()
    # a cluster drawn k times contributes k * size draws among its members
    for name, idx in (("a", slice(0, 3)), ("b", slice(3, 8))):
        per = w[:, idx].sum(axis=1)
        size = 3 if name == "a" else 5
        assert (per % size == 0).all()
    assert (w[:, 8] == w[:, 8].round()).all() and w[:, 8].max() >= 2  # lone member: k itself


def test_interval_is_seeded_and_brackets_the_estimate() -> None:
    df = frame()
    part = df.filter(pl.col("source").is_in(["o/m0"]) | (pl.col("label") == "real"))
    y = (part["label"] == "fake").to_numpy().astype(int)
    s = part["score"].to_numpy()
    clusters = part["group_key"].to_list()
    a = ap_replicates(s, y, clusters, 400, seed=7)
    b = ap_replicates(s, y, clusters, 400, seed=7)
    assert np.array_equal(a, b)
    lo, hi = interval(a)
    point = weighted_ap(s, y, np.ones((1, len(s))))[0]
    assert lo <= point <= hi and 0 < hi - lo < 0.5


def test_balanced_sets_match_counts_and_sizes() -> None:
    df = frame(n_models=4, n_fake=10, n_photos=6, crops=3, sizes=((64, 64), (96, 48)))
    sets = balanced_sets(df, seed=0)
    assert set(sets) == {f"o/m{i}" for i in range(4)}
    for model, part in sets.items():
        fakes, reals = part.filter(pl.col("label") == "fake"), part.filter(pl.col("label") == "real")
        assert fakes.height == reals.height > 0, model
        assert sorted(zip(fakes["width"], fakes["height"], strict=True)) == sorted(
            zip(reals["width"], reals["height"], strict=True)
        )
    # 12 reals at 64x64 but only 6 at 96x48: m1's 10 fakes are cut to 6, never unbalanced
    assert sets["o/m0"].height == 20 and sets["o/m1"].height == 12
    again = balanced_sets(df, seed=0)
    assert all(again[m]["image_id"].to_list() == sets[m]["image_id"].to_list() for m in sets)
    other = balanced_sets(df, seed=1)
    assert any(other[m]["image_id"].to_list() != sets[m]["image_id"].to_list() for m in sets)
    # one generator's draw does not depend on which other generators exist
    alone = balanced_sets(df.filter(pl.col("source").is_in(["o/m1", "demo"])), seed=0)
    assert alone["o/m1"]["image_id"].to_list() == sets["o/m1"]["image_id"].to_list()


def test_evaluation_rows_mean_over_models_next_to_pooled() -> None:
    rows = evaluation_rows(frame(), run_id="r", split_id="s", protocol="held_out_models", n_boot=300)
    kinds = {r["group_kind"] for r in rows}
    assert kinds == {"model", "mean_over_models", "overall", "architecture", "time_bucket"}
    per_model = [r for r in rows if r["group_kind"] == "model"]
    assert len(per_model) == 6 and all(r["n_real"] == r["n_fake"] for r in per_model)
    (mean,) = [r for r in rows if r["group_kind"] == "mean_over_models"]
    assert mean["ap"] == pytest.approx(np.mean([r["ap"] for r in per_model]))
    for r in rows:
        assert r["ap_ci_low"] <= r["ap"] <= r["ap_ci_high"], r
        assert r["acc_real"] is not None and r["acc_fake"] is not None
        assert (r["run_id"], r["split_id"], r["protocol"]) == ("r", "s", "held_out_models")


# -- protocols and perturbations ------------------------------------------------------------


def _split_for_protocols() -> pl.DataFrame:
    rows = []
    specs = [("a/x", "sd1", "g1", 0), ("b/y", "sd1", "g2", 40), ("c/z", "sdxl", "g3", 400),
             ("d/w", "sdxl", "g1", 500), ("e/v", "pixart", "g5", 800)]
    for model, arch, group, day in specs:
        rows.append({"image_id": f"f-{model}", "label": "fake", "source": model, "split": "train",
                     "architecture": arch, "group_key": group, "path": "p",
                     "model_created_at": T0 + dt.timedelta(days=day)})
    for side in ("train", "test"):
        rows.append({"image_id": f"r-{side}", "label": "real", "source": "demo", "split": side,
                     "architecture": None, "group_key": f"ph-{side}", "path": "p",
                     "model_created_at": None})
    return pl.DataFrame(rows)


def test_family_runs_leave_one_architecture_out_without_relatives() -> None:
    runs = {r.name: r for r in family_runs(_split_for_protocols())}
    assert set(runs) == {"family-sd1", "family-sdxl", "family-pixart"}
    assert runs["family-sd1"].test_models == ("a/x", "b/y")
    assert "d/w" not in runs["family-sd1"].train_models  # shares lineage group g1 with a/x
    assert runs["family-pixart"].train_models == ("a/x", "b/y", "c/z", "d/w")
    # capped: the architectures with the most models first (sd1 has two models here)
    assert [r.name for r in family_runs(_split_for_protocols(), 1)] == ["family-sd1"]
    assert len(family_runs(_split_for_protocols(), 2)) == 2
    assert len(family_runs(_split_for_protocols(), 9)) == 3
    with pytest.raises(ValueError, match="max_runs must be >= 0"):
        family_runs(_split_for_protocols(), -1)
    train, test = protocol_frames(_split_for_protocols(), runs["family-sd1"])
    assert set(test.filter(pl.col("label") == "real")["split"]) == {"test"}
    assert set(train.filter(pl.col("label") == "real")["split"]) == {"train"}
    big = pl.concat([_split_for_protocols()] + [
        _split_for_protocols().filter(pl.col("label") == "fake").with_columns(
            pl.col("image_id") + f"-{k}") for k in range(4)])
    capped, test_all = protocol_frames(big, runs["family-sd1"], max_fakes_per_model=2)
    per = capped.filter(pl.col("label") == "fake").group_by("source").len()
    assert per["len"].max() == 2 and set(per["source"]) == set(runs["family-sd1"].train_models)
    assert test_all.filter(pl.col("label") == "fake").height == 10  # test never cut


def test_time_windows_expand_and_never_test_the_past() -> None:
    split = _split_for_protocols()
    runs = time_windows(split, window_days=365, min_train_models=2, exclude_relatives=True)
    assert [r.name for r in runs] == ["window-20240210", "window-20250209", "window-20260209"]
    first, second, third = runs
    assert first.test_models == ("c/z",) and first.train_models == ("a/x", "b/y")
    assert second.test_models == ("d/w",)
    assert second.train_models == ("b/y", "c/z")  # a/x is d/w's relative (group g1)
    assert third.test_models == ("e/v",) and len(third.train_models) == 4
    created = dict(zip(split["source"], split["model_created_at"], strict=True))
    for r in runs:
        assert max(created[m] for m in r.train_models) < min(created[m] for m in r.test_models)
    default = time_windows(split, window_days=365, min_train_models=2)
    assert default[1].train_models == ("a/x", "b/y", "c/z")  # what a deployed detector saw
    with pytest.raises(ValueError, match="window_days"):
        time_windows(split, window_days=0)


def test_perturbations_change_pixels_and_unknown_names_fail() -> None:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    for name in PERTURBATIONS:
        out = perturb(img, name)
        assert out.mode == "RGB"
        if name == "resize0.5":
            assert out.size == (32, 32)
        else:
            assert out.size == (64, 64) and np.asarray(out).tolist() != np.asarray(img).tolist()
    with pytest.raises(ValueError, match="unknown perturbation 'jpeg10'"):
        perturb(img, "jpeg10")
