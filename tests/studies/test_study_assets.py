"""The diversity study and the cross-dataset comparison materialized for real under Dagster,
on a tiny home with families and collections (tests/helpers/study_home.py)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from PIL import Image

from tests.helpers.inline import table_rows, thumbnail_of
from tests.helpers.study_home import study_home

FAST = {"epochs": 1, "n_boot": 50}


def _materialize(asset, resources, config, ok=True):
    name = asset.op.name
    with dg.instance_for_test() as instance:
        result = dg.materialize([asset], resources=resources, instance=instance,
                                run_config={"ops": {name: {"config": config}}},
                                raise_on_error=False)  # fmt: skip
        assert result.success == ok, result
        if not ok:
            failure = next(e for e in result.all_events if e.is_step_failure)
            return str(failure.event_specific_data.error)
        return {k: v.value for k, v in result.asset_materializations_for_node(name)[0]
                .metadata.items()}  # fmt: skip


@pytest.mark.slow
def test_diversity_study_trains_both_conditions_and_judges_them(tmp_path: Path) -> None:
    from fakeimg_assets.studies.diversity_assets import diversity_study
    from fakeimg_assets.warehouse.store import Warehouse

    home, resources = study_home(tmp_path)
    meta = _materialize(diversity_study, resources, {**FAST, "draws": 2})
    wh = Warehouse(home)
    rows = wh.read("diversity_results")
    assert rows.height == 4 and rows["study_id"].n_unique() == 1
    assert rows.group_by("condition").len().sort("condition").rows() == [
        ("multi_family", 2), ("single_family", 2)]
    # k = 3 (the biggest family, sd1, has 4; 3 families exist); 3 x 6 fakes, as many reals
    assert set(rows["n_train_models"]) == {3} and meta["n_train_models"] == 3
    assert set(rows["n_train_fake"]) == {18} and set(rows["n_train_images"]) == {36}
    single = rows.filter(pl.col("condition") == "single_family")
    multi = rows.filter(pl.col("condition") == "multi_family")
    assert set(single["n_families"]) == {1} and set(multi["n_families"]) == {3}
    assert all(f == ["sd1"] for f in single["families"].to_list())
    assert all(sorted(f) == ["pixart", "sd1", "sdxl"] for f in multi["families"].to_list())
    for part in (single, multi):
        assert len({tuple(m) for m in part["train_models"].to_list()}) == 2  # distinct draws
    heldout = {"sd1/g4", "sdxl/g1", "pixart/g1"}
    assert all(set(json.loads(g)) == heldout for g in rows["generator_ap"])  # the same set
    assert set(rows["n_heldout_models"]) == {3} and set(rows["split_id"]) == {"s1"}
    assert not {m for ms in rows["train_models"].to_list() for m in ms} & heldout
    assert set(rows["family_by"]) == {"architecture"}
    runs = wh.read("detector_runs").filter(pl.col("purpose") == "diversity")
    assert sorted(runs["run_id"]) == sorted(rows["run_id"])
    assert set(runs["n_train_real"]) == {18}
    # the verdict in the metadata matches the rows
    means = {c: statistics.fmean(rows.filter(pl.col("condition") == c)["ap"])
             for c in ("single_family", "multi_family")}  # fmt: skip
    assert meta["single_family"]["estimate"] == pytest.approx(means["single_family"], abs=1e-4)
    assert meta["multi_family"]["estimate"] == pytest.approx(means["multi_family"], abs=1e-4)
    diff = meta["difference"]
    assert diff["estimate"] == pytest.approx(means["multi_family"] - means["single_family"],
                                             abs=2e-4)  # fmt: skip
    assert diff["ci_low"] <= diff["estimate"] <= diff["ci_high"]
    assert meta["diversity_helps"] == (diff["ci_low"] > 0)
    assert meta["draws"] == {"single_family": 2, "multi_family": 2}
    assert meta["families"] == {"pixart": 1, "sd1": 4, "sdxl": 1}
    assert meta["fake_images_per_run"] == 18 and meta["dagster/row_count"] == 4
    assert meta["plot_path"] == f"plots/{rows['study_id'][0]}.png"  # relative to the home
    with Image.open(home / meta["plot_path"]) as im:
        assert im.format == "PNG" and im.size == (560, 420)
    thumb = thumbnail_of(meta["plot"])  # inline, small, the same picture's shape
    assert thumb.width < 560 and abs(thumb.width / thumb.height - 560 / 420) < 0.05


@pytest.mark.slow
def test_diversity_study_refuses_what_it_cannot_contrast(tmp_path: Path) -> None:
    from fakeimg_assets.studies.diversity_assets import diversity_study

    _, resources = study_home(tmp_path)
    text = _materialize(diversity_study, resources, {**FAST, "family_by": "pipeline"}, ok=False)
    assert "'architecture' or 'family_group', got 'pipeline'" in text
    text = _materialize(diversity_study, resources, {**FAST, "n_train_models": 5}, ok=False)
    assert "no family has 5 training-side generators" in text and "'sd1' with 4" in text
    # every Hub generator is latent diffusion: one family group, nothing to contrast
    text = _materialize(diversity_study, resources, {**FAST, "family_by": "family_group"},
                        ok=False)  # fmt: skip
    assert "at least 2 families; found 1 (['latent_diffusion'])" in text


@pytest.mark.slow
def test_cross_dataset_scores_every_source_everywhere(tmp_path: Path) -> None:
    from fakeimg_assets.studies.cross_dataset_assets import cross_dataset
    from fakeimg_assets.warehouse.store import Warehouse

    home, resources = study_home(tmp_path, collections=True)
    meta = _materialize(cross_dataset, resources, FAST)
    wh = Warehouse(home)
    rows = wh.read("cross_dataset_results")
    assert set(rows["protocol"]) == {"cross_dataset"} and set(rows["split_id"]) == {"s1"}
    # pix (role both) trains but has no held-out fakes; outside (role eval) is only scored
    assert set(rows["train_source"]) == {"hub", "gans", "pix"}
    assert set(rows["eval_set"]) == {"hub", "gans", "outside"}
    mean = rows.filter(pl.col("group_kind") == "mean_over_models")
    assert mean.height == 9 and mean.select("train_source", "eval_set").n_unique() == 9
    models = rows.filter(pl.col("group_kind") == "model")
    by_set = {e: set(models.filter(pl.col("eval_set") == e)["group_value"])
              for e in ("hub", "gans", "outside")}  # fmt: skip
    assert by_set == {"hub": {"sd1/g4", "sdxl/g1", "pixart/g1"},
                      "gans": {"collection--gans/g1"}, "outside": {"collection--outside/e0"}}
    assert (models["n_real"] == models["n_fake"]).all()
    fam = rows.filter(pl.col("group_kind") == "family_group")
    assert set(fam.filter(pl.col("eval_set") == "gans")["group_value"]) == {"gan"}
    view = wh.query("SELECT count(*) AS n FROM eval_results WHERE protocol = 'cross_dataset'")
    assert view["n"][0] == rows.height
    runs = wh.read("detector_runs").filter(pl.col("purpose") == "cross_dataset")
    assert runs.height == 3
    assert set(runs["n_train_fake"]) == {6} and set(runs["n_train_real"]) == {6}
    assert set(rows["run_id"]) == set(runs["run_id"])
    assert meta["images_per_detector"] == {"fake": 6, "real": 6, "limited_by": "gans"}
    assert meta["train_sources"] == {"hub": {"own_reals": True}, "gans": {"own_reals": True},
                                     "pix": {"own_reals": False}}
    assert meta["eval_sets"]["outside"]["kind"] == "external"
    assert meta["eval_sets"]["outside"]["match_sizes"] is False
    assert meta["eval_sets"]["gans"] == {"kind": "held_out", "match_sizes": True, "n_fake": 6,
                                         "n_real": 6}
    assert "no test-side fakes" in meta["skipped"]["pix"]
    table = table_rows(meta["matrix"])  # a table the UI shows in place
    assert [r["train \\ eval"] for r in table] == ["hub", "gans", "pix"]
    for row in table:
        assert list(row) == ["train \\ eval", "hub", "gans", "outside"]
        source = row["train \\ eval"]
        expect = [mean.filter((pl.col("train_source") == source) & (pl.col("eval_set") == e))
                  ["ap"][0] for e in ("hub", "gans", "outside")]  # fmt: skip
        cells = [row[e] for e in ("hub", "gans", "outside")]
        assert cells == pytest.approx(expect, abs=6e-4)
        assert all(c == round(c, 3) for c in cells)  # rounded for reading
    plot = home / meta["plot_path"]
    assert plot.parent == home / "plots" and plot.exists()
    with Image.open(plot) as im:
        width, height = im.size
    thumb = thumbnail_of(meta["plot"])
    assert abs(thumb.width / thumb.height - width / height) < 0.05


@pytest.mark.slow
def test_cross_dataset_without_collections_and_without_a_split(tmp_path: Path) -> None:
    from fakeimg_assets.definitions import build_resources
    from fakeimg_assets.studies.cross_dataset_assets import cross_dataset
    from fakeimg_assets.warehouse.store import Warehouse

    empty = build_resources(home=str(tmp_path / "empty"), endpoint="http://127.0.0.1:9")
    text = _materialize(cross_dataset, empty, FAST, ok=False)
    assert "no split yet: materialize detector_dataset first" in text
    home, resources = study_home(tmp_path)
    meta = _materialize(cross_dataset, resources, {**FAST, "fake_images": 4})
    rows = Warehouse(home).read("cross_dataset_results")
    assert set(rows["train_source"]) == set(rows["eval_set"]) == {"hub"}
    assert meta["images_per_detector"] == {"fake": 4, "real": 4, "limited_by": "cap"}
