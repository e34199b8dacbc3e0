"""Scaling study: the pure draw logic pinned, and the asset run for real on a tiny warehouse."""

from __future__ import annotations

import io
import math
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from PIL import Image

from fakeimg_assets.detection.synthetic import synthetic_image
from fakeimg_assets.studies.plot import scaling_png
from fakeimg_assets.studies.scaling import (
    allocate,
    design_study,
    draw_plan,
    scaling_sizes,
    summarize,
)
from tests.helpers.inline import table_rows, thumbnail_of

FAMILIES = {f"{fam}/m{i}": fam for fam in ("sd1", "sdxl", "pixart") for i in range(4)}
TEST = {"sd1/m3", "sdxl/m3", "pixart/m3"}


def _design(seed: int = 0):
    train = {m: f for m, f in FAMILIES.items() if m not in TEST}
    test = {m: f for m, f in FAMILIES.items() if m in TEST}
    return design_study(train, test, seed)


def test_sizes_are_powers_of_two_then_all() -> None:
    assert scaling_sizes(1) == [1]
    assert scaling_sizes(2) == [1, 2]
    assert scaling_sizes(6) == [1, 2, 4, 6]
    assert scaling_sizes(8) == [1, 2, 4, 8]
    assert scaling_sizes(9) == [1, 2, 4, 9]  # 8 and 9 would be the same point twice
    assert scaling_sizes(13) == [1, 2, 4, 8, 13]
    with pytest.raises(ValueError, match="at least one"):
        scaling_sizes(0)


def test_heldout_set_is_fixed_and_contains_an_unseen_family() -> None:
    d = _design()
    assert set(d.heldout) == TEST
    assert len(d.unseen_families) == 1
    unseen = d.unseen_families[0]
    assert unseen in {FAMILIES[m] for m in TEST}
    assert all(FAMILIES[m] != unseen for m in d.pool)  # no training model of that family
    assert len(d.pool) == 6 and not set(d.pool) & TEST
    # a test family already absent from training is used as is; the pool is untouched
    train = {m: f for m, f in FAMILIES.items() if m not in TEST and f != "pixart"}
    natural = design_study(train, {m: FAMILIES[m] for m in TEST}, 0)
    assert natural.unseen_families == ("pixart",) and set(natural.pool) == set(train)
    with pytest.raises(ValueError, match="no test"):
        design_study(train, {}, 0)


def test_draws_have_k_models_differ_keep_the_budget_and_never_touch_heldout() -> None:
    d = _design()
    per_model = {m: 10 + i for i, m in enumerate(d.pool)}
    plan = draw_plan(d, per_model, n_draws=5, control_draws=2, seed=3)
    main = [p for p in plan if not p.control]
    by_k: dict[int, list] = {}
    for p in main:
        by_k.setdefault(p.k, []).append(p)
    assert sorted(by_k) == scaling_sizes(len(d.pool)) == [1, 2, 4, 6]
    budget = min(per_model.values())
    for k, draws in by_k.items():
        # distinct subsets: 5 where that many exist, every subset where fewer (k = 6: one)
        n = min(5, math.comb(len(d.pool), k))
        assert len(draws) == n and [p.draw for p in draws] == list(range(n)), k
        assert all(len(p.models) == k == len(set(p.models)) for p in draws)
        assert len({p.models for p in draws}) == n, k
        assert {p.n_fake for p in draws} == {budget}  # fixed fake budget across k
    for p in plan:
        assert not set(p.models) & set(d.heldout)
        assert set(p.models) <= set(d.pool)
    seeds = [p.draw_seed for p in plan] + [p.init_seed for p in plan]
    assert len(set(seeds)) == len(seeds)  # own seeds, separate from init seeds
    control = [p for p in plan if p.control]
    assert control and all(p.models == d.pool for p in control)
    # x 1 is the main curve's largest k; the control adds x 2 and x 4 of the same pool
    assert Counter(p.n_fake for p in control) == {2 * budget: 2, 4 * budget: 2}
    assert draw_plan(d, per_model, n_draws=5, control_draws=2, seed=3) == plan
    other = draw_plan(d, per_model, n_draws=5, control_draws=2, seed=4)
    assert [p.models for p in other] != [p.models for p in plan]


def test_bad_budgets_are_refused() -> None:
    d = _design()
    per_model = {m: 10 for m in d.pool}
    with pytest.raises(ValueError, match="exceeds"):
        draw_plan(d, per_model, fake_budget=11)
    with pytest.raises(ValueError, match="without images"):
        draw_plan(d, {**per_model, d.pool[0]: 0})
    with pytest.raises(ValueError, match="n_draws"):
        draw_plan(d, per_model, n_draws=0)


def test_allocation_is_even_and_sums_to_the_budget() -> None:
    assert allocate(["a", "b", "c"], {"a": 10, "b": 10, "c": 10}, 10) == {"a": 4, "b": 3, "c": 3}
    assert allocate(["a", "b"], {"a": 2, "b": 10}, 8) == {"a": 2, "b": 6}
    with pytest.raises(ValueError, match="hold 5"):
        allocate(["a"], {"a": 5}, 6)


def test_summary_spread_and_plot() -> None:
    rows = [
        {"control": False, "n_train_models": 1, "n_train_fake": 8, "ap": a, "n_families": 1}
        for a in (0.6, 0.7, 0.8)
    ] + [
        {"control": False, "n_train_models": 2, "n_train_fake": 8, "ap": a, "n_families": f}
        for a, f in ((0.9, 2), (0.7, 1))
    ] + [{"control": True, "n_train_models": 2, "n_train_fake": 16, "ap": 0.75, "n_families": 2}]
    s = summarize(rows)
    one = next(r for r in s if r["n_train_models"] == 1)
    assert one["ap_mean"] == pytest.approx(0.7) and one["ap_std"] == pytest.approx(0.1)
    assert (one["ap_min"], one["ap_max"], one["draws"]) == (0.6, 0.8, 3)
    two = next(r for r in s if r["n_train_models"] == 2 and not r["control"])
    assert two["n_families"] == pytest.approx(1.5)
    png = scaling_png(rows, s)
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size == (960, 420)


# ---------------------------------------------------------------- the asset, for real


def _tiny_home(home: Path) -> None:
    """A split of 9 generators in 3 families (sd1/sdxl/pixart x 3) and 48 reals, 32 px."""
    from fakeimg_assets.warehouse.store import Warehouse

    rng = np.random.default_rng(0)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    split, images = [], []
    folder = home / "images" / "t"
    folder.mkdir(parents=True)
    models = {f"{fam}/m{i}": fam for fam in ("sd1", "sdxl", "pixart") for i in range(3)}
    test_models = {"sd1/m2", "sdxl/m2", "pixart/m2"}
    items = [(m, 1, i) for m in models for i in range(6)] + [("photos", 0, i) for i in range(48)]
    for source, label, i in items:
        image_id = f"{source.replace('/', '-')}-{i}"
        synthetic_image(label, rng, 32).save(folder / f"{image_id}.png")
        side = ("test" if source in test_models else "train") if label else (
            "test" if i % 2 else "train")  # fmt: skip
        split.append({"split_id": "s1", "image_id": image_id, "split": side,
                      "label": "fake" if label else "real", "source": source,
                      "architecture": models.get(source), "model_created_at": now,
                      "path": f"images/t/{image_id}.png",
                      "group_key": source if label else f"photo-{i // 2}"})  # fmt: skip
        images.append({"image_id": image_id, "label": "fake" if label else "real",
                       "source": source, "path": f"images/t/{image_id}.png",
                       "width": 32, "height": 32})  # fmt: skip
    wh = Warehouse(home)
    wh.write("detector_splits", "s1", split)
    wh.write("fake_images", "t", [r for r in images if r["label"] == "fake"])
    wh.write("real_images", "t", [r for r in images if r["label"] == "real"])
    wh.write("split_versions", "s1", [{"split_id": "s1", "created_at": now}])


@pytest.mark.slow
def test_scaling_asset_writes_draws_control_and_plot(home: Path) -> None:
    from fakeimg_assets.definitions import build_resources
    from fakeimg_assets.studies.assets import scaling_study
    from fakeimg_assets.warehouse.store import Warehouse
    from resources import ComputeResource

    _tiny_home(home)
    resources = build_resources(home=str(home), endpoint="http://127.0.0.1:9",
                                compute=ComputeResource(device="cpu", torch_threads=1))  # fmt: skip
    cfg = {"draws": 3, "control_draws": 1, "max_control_multiplier": 4, "epochs": 1}
    with dg.instance_for_test() as instance:
        result = dg.materialize([scaling_study], resources=resources, instance=instance,
                                run_config={"ops": {"scaling_study": {"config": cfg}}})  # fmt: skip
    assert result.success
    rows = Warehouse(home).read("scaling_results")
    main = rows.filter(~rows["control"])
    # pool: 6 training models minus the held-out-unseen family's 2 -> 4: k in 1, 2, 4
    assert sorted(set(main["n_train_models"].to_list())) == [1, 2, 4]
    # distinct subsets: 3 draws where they exist; the whole pool (k = 4) is one subset
    assert Counter(main["n_train_models"].to_list()) == {1: 3, 2: 3, 4: 1}
    assert set(main["n_train_fake"].to_list()) == {6}  # fixed budget: one model's images
    assert set(main["n_train_images"].to_list()) == {12}  # as many reals as fakes
    assert len(set(map(tuple, main.filter(main["n_train_models"] == 1)["train_models"]))) == 3
    assert rows["split_id"].unique().to_list() == ["s1"]
    assert all(len(u) == 1 for u in rows["unseen_families"].to_list())
    assert set(rows["n_heldout_models"].to_list()) == {3}
    assert all(0.0 <= a <= 1.0 for a in rows["ap"].to_list() + rows["pooled_ap"].to_list())
    ctrl = rows.filter(rows["control"])
    assert sorted(ctrl["n_train_fake"].to_list()) == [12, 24]  # the pool holds 4 x 6 fakes
    assert set(ctrl["n_train_models"].to_list()) == {4}
    assert (main.filter(main["n_train_models"] == 4)["n_families"] == 2).all()
    runs = Warehouse(home).read("detector_runs")
    assert set(runs["purpose"].to_list()) == {"scaling", "scaling_control"}
    assert runs.height == rows.height and set(runs["split_id"].to_list()) == {"s1"}
    assert set(runs["recipe"].to_list()) == {"tiny-resnet"}
    plots = list((home / "plots").glob("scaling-*.png"))
    assert len(plots) == 1
    mat = result.asset_materializations_for_node("scaling_study")[0]
    assert mat.metadata["plot_path"].value == f"plots/{plots[0].name}"  # relative to the home
    thumb = thumbnail_of(mat.metadata["plot"].value)  # shown in place: under 1000 characters
    assert thumb.width < 960 and abs(thumb.width / thumb.height - 960 / 420) < 0.05
    curve = table_rows(mat.metadata["curve"])  # a table, one row per (k, control)
    assert {(r["n_train_models"], r["control"]) for r in curve} == {
        (k, c) for k, c in zip(rows["n_train_models"], rows["control"], strict=True)}
    assert all(r["ap_mean"] is None or r["ap_mean"] == round(r["ap_mean"], 3) for r in curve)
