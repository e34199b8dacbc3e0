"""The real detector_dataset -> detector -> detector_evaluation chain under Dagster.

A home holding synthetic, learnable images (no zoo; see tests/helpers/learnable_home.py) is
enough to run the assets for real on `instance_for_test`: the run evaluated is the one `detector`
wrote, on its own split; a leaky run is refused; splits are immutable; the summary shows
the headline with its interval.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tests.helpers.inline import table_rows, thumbnail_of
from tests.helpers.learnable_home import learnable_home

# -- the asset chain -------------------------------------------------------------------------


def _materialize(assets, resources, instance, config=None, ok=True):
    result = dg.materialize(assets, resources=resources, instance=instance,
                            run_config=config or {}, raise_on_error=False)
    assert result.success == ok, result
    return result


EVAL_CFG = {"ops": {
    "detector": {"config": {"epochs": 2}},
    "detector_evaluation": {"config": {"n_boot": 200, "protocol_epochs": 1,
                                       "window_days": 400, "min_train_models": 4}},
}}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory):
    from fakeimg_assets.detection.assets import detector
    from fakeimg_assets.evaluation.assets import detector_evaluation
    from fakeimg_assets.splits.assets import detector_dataset

    home, resources = learnable_home(tmp_path_factory.mktemp("eval-home"))
    with dg.instance_for_test() as instance:
        _materialize([detector_dataset, detector, detector_evaluation], resources, instance, EVAL_CFG)
        yield home, resources, instance


@pytest.mark.slow
def test_evaluation_scores_its_own_run_on_its_split(evaluated) -> None:
    from fakeimg_assets.warehouse.store import Warehouse

    home, _, instance = evaluated
    wh = Warehouse(home)
    event = instance.get_latest_materialization_event(dg.AssetKey("detector"))
    run_id = event.asset_materialization.metadata["run_id"].value
    run = wh.query("SELECT * FROM detector_runs WHERE run_id = ?", [run_id]).row(0, named=True)
    rows = wh.read("eval_results")
    main = rows.filter((pl.col("protocol") == "held_out_models") & pl.col("perturbation").is_null())
    assert set(main["run_id"]) == {run_id} and set(rows["split_id"]) == {run["split_id"]}
    models = main.filter(pl.col("group_kind") == "model")
    assert models.height >= 1 and (models["n_real"] == models["n_fake"]).all()
    test_models = set(wh.query(
        "SELECT DISTINCT source FROM detector_splits WHERE split_id = ? AND split = 'test' "
        "AND label = 'fake'", [run["split_id"]])["source"])
    assert set(models["group_value"]) == test_models and not test_models & set(run["train_models"])
    mean = main.filter(pl.col("group_kind") == "mean_over_models").row(0, named=True)
    assert mean["ap_ci_low"] <= mean["ap"] <= mean["ap_ci_high"]
    perturbed = set(rows.filter(pl.col("perturbation").is_not_null())["perturbation"])
    assert perturbed == {"jpeg75", "jpeg50", "resize0.5", "blur1"}
    assert set(rows["protocol"]) == {"held_out_models", "held_out_family", "time_ordered"}
    runs = wh.read("detector_runs")
    protocol_runs = runs.filter(pl.col("purpose") != "main")
    assert protocol_runs.height >= 2 and set(protocol_runs["split_id"]) == {run["split_id"]}


@pytest.mark.slow
def test_evaluation_follows_detectors_run_not_the_newest_row(evaluated) -> None:
    from fakeimg_assets.evaluation.assets import detector_evaluation
    from fakeimg_assets.lib.times import utcnow
    from fakeimg_assets.warehouse.store import Warehouse

    home, resources, instance = evaluated
    wh = Warehouse(home)
    run = wh.query("SELECT * FROM detector_runs WHERE purpose = 'main'").row(0, named=True)
    newer = {**run, "run_id": "zz-newer-run", "created_at": utcnow()}
    wh.write("trained_detectors", "zz-newer-run", [newer])
    try:
        cfg = {"ops": {"detector_evaluation": {"config": {
            "protocols": ["held_out_models"], "n_boot": 200}}}}
        _materialize([detector_evaluation], resources, instance, cfg)
        assert "zz-newer-run" not in set(wh.read("eval_results")["run_id"])
    finally:
        wh.delete("trained_detectors", "zz-newer-run")


@pytest.mark.slow
def test_evaluation_refuses_a_test_side_the_run_trained_on(evaluated) -> None:
    from fakeimg_assets.evaluation.assets import detector_evaluation
    from fakeimg_assets.lib.times import utcnow
    from fakeimg_assets.warehouse.store import Warehouse

    home, resources, _ = evaluated
    wh = Warehouse(home)
    run = wh.query("SELECT * FROM detector_runs WHERE purpose = 'main'").row(0, named=True)
    test_model = wh.query(
        "SELECT min(source) AS m FROM detector_splits WHERE split = 'test' AND label = 'fake'"
    )["m"][0]
    leaky = {**run, "run_id": "leaky-run", "created_at": utcnow(),
             "train_models": [*run["train_models"], test_model]}
    wh.write("trained_detectors", "leaky-run", [leaky])
    try:
        with dg.instance_for_test() as fresh:  # no detector materialization: newest main run
            result = _materialize([detector_evaluation], resources, fresh, ok=False)
        failure = next(e for e in result.all_events if e.is_step_failure)
        text = str(failure.event_specific_data.error)
        assert "overlaps" in text and test_model in text
    finally:
        wh.delete("trained_detectors", "leaky-run")


@pytest.mark.slow
def test_splits_are_immutable_and_a_new_model_moves_no_one(tmp_path: Path) -> None:
    from fakeimg_assets.splits.assets import detector_dataset
    from fakeimg_assets.splits.sides import DEFAULT_TEST_FRACTION
    from fakeimg_assets.splits.splits import check_split
    from fakeimg_assets.splits.store import latest_split_id, read_split
    from fakeimg_assets.warehouse.store import Warehouse
    from resources import WarehouseResource

    home, resources = learnable_home(tmp_path, n_models=6)
    wh, res = Warehouse(home), WarehouseResource(home=str(home))
    with dg.instance_for_test() as instance:
        _materialize([detector_dataset], resources, instance)
        first = latest_split_id(res)
        file = wh.partition_path("detector_splits", first)
        stamp = file.stat().st_mtime_ns
        _materialize([detector_dataset], resources, instance)
        assert latest_split_id(res) == first and file.stat().st_mtime_ns == stamp
        learnable_home(tmp_path, n_models=7, only_new=True)  # one more generator arrives
        _materialize([detector_dataset], resources, instance)
        second = latest_split_id(res)
    assert second != first and file.exists()
    _, old = read_split(res, first)
    _, new = read_split(res, second)
    for rows in (old, new):  # the asset's output follows the pure rule, image by image
        check_split(rows.iter_rows(named=True), DEFAULT_TEST_FRACTION, 0)
        fakes = rows.filter(pl.col("label") == "fake")
        assert set(fakes["split"]) == {"train", "test"}
        assert (fakes.filter(pl.col("source").is_in(["maker0/gen-0", "maker1/gen-1"]))
                ["split"].n_unique() == 1)  # same declared base model: one side
    joined = old.join(new, on="image_id", suffix="_new")
    assert joined.height == old.height and (joined["split"] == joined["split_new"]).all()
    versions = wh.read("split_versions")
    assert sorted(versions["split_id"]) == sorted([first, second])


@pytest.mark.slow
def test_summary_shows_mean_ap_with_interval_and_balanced_models(evaluated) -> None:
    from fakeimg_assets.summary import summarize

    home, _, _ = evaluated
    text = summarize(home)
    assert "held-out generators (AP with 95% interval)" in text
    lines = text.splitlines()
    mean = next(line for line in lines if "mean_over_models" in line and "held_out" not in line)
    assert "ap_lo" in text and "acc_real" in text and mean
    model_lines = [x for x in lines if x.strip().startswith("model ")]
    assert model_lines
    for line in model_lines:
        cells = line.split()
        assert cells[2] == cells[3], line  # n_real == n_fake per generator
    for protocol in ("held_out_family", "time_ordered", "jpeg50", "blur1"):
        assert protocol in text


@pytest.mark.slow
def test_evaluation_shows_ap_per_model_and_family_inline(evaluated) -> None:
    """Per-model and per-family AP as tables the UI shows in place (rounded), a plot of
    both as a PNG under the home with an inline thumbnail, and the split's counts."""
    from fakeimg_assets.warehouse.store import Warehouse

    home, _, instance = evaluated
    meta = instance.get_latest_materialization_event(
        dg.AssetKey("detector_evaluation")).asset_materialization.metadata
    run_id = meta["run_id"].value
    rows = Warehouse(home).read("eval_results").filter(
        (pl.col("run_id") == run_id) & (pl.col("protocol") == "held_out_models")
        & pl.col("perturbation").is_null())
    models = rows.filter(pl.col("group_kind") == "model")
    by_model = table_rows(meta["ap_by_model"])
    assert sorted(r["model_id"] for r in by_model) == sorted(models["group_value"])
    assert [r["ap"] for r in by_model] == sorted(r["ap"] for r in by_model)  # hardest first
    for r in by_model:
        ap = models.filter(pl.col("group_value") == r["model_id"])["ap"][0]
        assert r["ap"] == round(ap, 3) and isinstance(r["n_fake"], int)
    families = table_rows(meta["ap_by_family_group"])
    assert {r["family_group"] for r in families if r["protocol"] == "held_out_models"} == set(
        rows.filter(pl.col("group_kind") == "family_group")["group_value"])
    summary = table_rows(meta["summary"])
    assert {r["group_kind"] for r in summary} == {"mean_over_models", "overall"}
    assert all(r["ap"] is None or r["ap"] == round(r["ap"], 3) for r in summary)
    assert meta["plot_path"].value == f"plots/evaluation-{run_id}.png".replace(":", "-")
    assert (home / meta["plot_path"].value).read_bytes()[:4] == b"\x89PNG"
    thumbnail_of(meta["plot"].value)
    split = instance.get_latest_materialization_event(
        dg.AssetKey("detector_dataset")).asset_materialization.metadata
    counts = table_rows(split["counts"])
    assert sum(r["len"] for r in counts) == split["dagster/row_count"].value
    assert {(r["split"], r["label"]) for r in counts} == {
        (s, lab) for s in ("test", "train") for lab in ("fake", "real")}
    assert table_rows(split["lineage_groups"]) and "lineage_groups_rows_left_out" not in split


@pytest.mark.slow
def test_each_asset_of_a_two_table_step_records_its_own_row_count(evaluated) -> None:
    """detector_dataset/split_versions and detector_evaluation/protocol_detectors are one
    step each, but every asset reports the rows of its own table."""
    from fakeimg_assets.warehouse.store import Warehouse

    home, _, instance = evaluated
    counts, meta = {}, {}
    for key in ("detector_dataset", "split_versions", "detector", "detector_evaluation",
                "protocol_detectors"):
        event = instance.get_latest_materialization_event(dg.AssetKey(key))
        assert event is not None, key
        meta[key] = event.asset_materialization.metadata
        counts[key] = meta[key]["dagster/row_count"].value
    wh = Warehouse(home)
    run_id = meta["detector_evaluation"]["run_id"].value
    split_id = meta["detector_dataset"]["split_id"].value
    assert meta["protocol_detectors"]["run_id"].value == run_id  # the same step's result
    assert counts["split_versions"] == wh.read("split_versions").height
    assert counts["detector_dataset"] == wh.read_key("detector_splits", split_id).height
    assert counts["detector"] == 1
    key = f"{run_id}-protocols".replace(":", "-")
    assert counts["protocol_detectors"] == wh.read_key("protocol_detectors", key).height
    evals = wh.read("eval_results").filter(pl.col("run_id").str.starts_with(run_id))
    assert 0 < counts["detector_evaluation"] <= evals.height  # this evaluation's protocols
