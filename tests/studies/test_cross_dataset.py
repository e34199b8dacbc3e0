"""Cross-dataset comparison: the pure plan (sources, equal counts, held-out parts), the
matrix's cells and its plot, on hand-made split frames."""

from __future__ import annotations

import io

import numpy as np
import polars as pl
import pytest
from PIL import Image

from fakeimg_assets.studies.cross_dataset import (
    HUB,
    check_sources,
    matrix,
    matrix_rows,
    plan_cross_dataset,
    sizes_covered,
)
from fakeimg_assets.studies.cross_dataset_plot import colour, matrix_png


def _rows(prefix, n, *, split, label, source, collection=None, size=32):
    return [{"image_id": f"{prefix}-{i}", "split": split, "label": label, "source": source,
             "collection": collection, "width": size, "height": size, "path": f"{prefix}-{i}.png",
             "architecture": None, "group_key": f"{prefix}-{i}", "family_group": None}
            for i in range(n)]  # fmt: skip


def split_frame(**extra) -> pl.DataFrame:
    """Hub: h0, h1 train (10 each), h2 test (5); platform reals 30 train / 20 test.
    'gans' (train): g0 train 6, g1 test 4, own reals 8 train / 5 test, 40 px.
    'pix' (train): p0 train 9, nothing held out, no reals of its own.
    'late' (both): only a test-side generator t0 (3)."""
    rows = (
        _rows("h0", 10, split="train", label="fake", source="o/h0")
        + _rows("h1", 10, split="train", label="fake", source="o/h1")
        + _rows("h2", 5, split="test", label="fake", source="o/h2")
        + _rows("rt", 30, split="train", label="real", source="photos")
        + _rows("re", 20, split="test", label="real", source="photos")
        + _rows("g0", 6, split="train", label="fake", source="collection--gans/g0",
                collection="gans", size=40)
        + _rows("g1", 4, split="test", label="fake", source="collection--gans/g1",
                collection="gans", size=40)
        + _rows("gr", 8, split="train", label="real", source="collection--gans",
                collection="gans", size=40)
        + _rows("gq", 5, split="test", label="real", source="collection--gans",
                collection="gans", size=40)
        + _rows("p0", 9, split="train", label="fake", source="collection--pix/p0", collection="pix")
        + _rows("t0", 3, split="test", label="fake", source="collection--late/t0",
                collection="late")
    )  # fmt: skip
    for name, n in extra.items():
        rows += _rows(name, n, split="train", label="fake", source=f"x/{name}")
    return pl.DataFrame(rows)


def _labels(df: pl.DataFrame, label: str) -> pl.DataFrame:
    return df.filter(pl.col("label") == label)


def test_every_source_trains_on_the_same_counts() -> None:
    plan = plan_cross_dataset(split_frame(), ["gans", "pix", "late"])
    assert sorted(plan.train) == ["gans", HUB, "pix"]
    assert plan.n_images == 6 and plan.limited_by == "gans"  # gans: 6 train-side fakes
    for source, frame in plan.train.items():
        assert _labels(frame, "fake").height == _labels(frame, "real").height == 6, source
        assert frame["image_id"].n_unique() == 12
        assert set(_labels(frame, "fake")["split"]) == {"train"}
        assert set(_labels(frame, "real")["split"]) == {"train"}
    hub_fakes = _labels(plan.train[HUB], "fake")
    assert dict(hub_fakes.group_by("source").len().iter_rows()) == {"o/h0": 3, "o/h1": 3}
    assert hub_fakes["collection"].is_null().all()
    # gans trains on its own reals; pix (none of its own) on the platform's photo crops
    assert set(_labels(plan.train["gans"], "real")["collection"]) == {"gans"}
    assert _labels(plan.train["pix"], "real")["collection"].is_null().all()
    assert plan.own_reals == {HUB: True, "gans": True, "pix": False}  # hub: the photo crops
    assert set(_labels(plan.train["pix"], "fake")["collection"]) == {"pix"}
    capped = plan_cross_dataset(split_frame(), ["gans", "pix"], fake_cap=4)
    assert capped.n_images == 4 and capped.limited_by == "cap"
    assert {_labels(f, "real").height for f in capped.train.values()} == {4}


def test_reals_count_towards_the_limit() -> None:
    frame = split_frame().filter(~pl.col("image_id").is_in([f"gr-{i}" for i in range(4)]))
    plan = plan_cross_dataset(frame, ["gans", "pix"])
    assert plan.n_images == 4 and plan.limited_by == "gans"  # 4 own reals left, 6 fakes


def test_heldout_parts_and_skipped_sources() -> None:
    plan = plan_cross_dataset(split_frame(), ["gans", "pix", "late"])
    assert sorted(plan.heldout) == ["gans", HUB, "late"]
    hub = plan.heldout[HUB]
    assert set(_labels(hub, "fake")["source"]) == {"o/h2"}
    assert _labels(hub, "real").height == 20 and hub["collection"].is_null().all()
    gans = plan.heldout["gans"]
    assert set(_labels(gans, "fake")["source"]) == {"collection--gans/g1"}
    assert set(_labels(gans, "real")["image_id"]) == {f"gq-{i}" for i in range(5)}
    late = plan.heldout["late"]  # no reals of its own: the platform's test reals
    assert _labels(late, "real")["collection"].is_null().all()
    assert set(hub["split"]) == set(gans["split"]) == set(late["split"]) == {"test"}
    assert "no test-side fakes" in plan.skipped["pix"]
    assert "no training-side fakes" in plan.skipped["late"]
    assert HUB not in plan.skipped and "gans" not in plan.skipped
    # a training frame never holds a held-out image
    held = pl.concat(list(plan.heldout.values()))["image_id"]
    for frame in plan.train.values():
        assert not set(frame["image_id"]) & set(held)


def test_match_sizes_follow_the_sets_sizes() -> None:
    plan = plan_cross_dataset(split_frame(), ["gans", "late"])
    assert plan.match_sizes == {HUB: True, "gans": True, "late": True}
    odd = split_frame().with_columns(
        pl.when(pl.col("image_id").str.starts_with("t0")).then(48).otherwise(pl.col("width"))
        .alias("width"))
    assert plan_cross_dataset(odd, ["gans", "late"]).match_sizes["late"] is False
    frame = pl.DataFrame({"label": ["fake", "real", "real"], "width": [32, 32, 40],
                          "height": [32, 32, 40]})
    assert sizes_covered(frame)
    assert not sizes_covered(frame.with_columns(pl.Series("height", [33, 32, 40])))


def test_plans_are_seeded() -> None:
    a = plan_cross_dataset(split_frame(), ["gans", "pix"], seed=0)
    b = plan_cross_dataset(split_frame(), ["gans", "pix"], seed=0)
    c = plan_cross_dataset(split_frame(), ["gans", "pix"], seed=1)
    ids = {s: sorted(f["image_id"]) for s, f in a.train.items()}
    assert ids == {s: sorted(f["image_id"]) for s, f in b.train.items()}
    assert ids != {s: sorted(f["image_id"]) for s, f in c.train.items()}


def test_refusals_name_the_reason() -> None:
    only_test = split_frame().filter(pl.col("split") == "test")
    with pytest.raises(ValueError, match="no training source: hub: no training-side fakes"):
        plan_cross_dataset(only_test, ["gans"])
    with pytest.raises(ValueError, match="'hub' clashes"):
        plan_cross_dataset(split_frame(), ["gans", "hub"])
    with pytest.raises(ValueError, match=r"collection name '\.\./x'"):
        check_sources(["../x"])
    with pytest.raises(ValueError, match="fake_images must be >= 0"):
        plan_cross_dataset(split_frame(), [], fake_cap=-1)
    no_reals = split_frame().filter(pl.col("label") == "fake")
    with pytest.raises(ValueError, match="no training-side reals"):
        plan_cross_dataset(no_reals, [])


def test_a_collection_not_named_is_not_a_source() -> None:
    plan = plan_cross_dataset(split_frame(), [])
    assert list(plan.train) == [HUB] and list(plan.heldout) == [HUB]
    assert plan.n_images == 20  # only the hub's 20 fakes limit it now


# ---------------------------------------------------------------- the matrix


def _result(train, eval_set, kind, ap, perturbation=None):
    return {"train_source": train, "eval_set": eval_set, "group_kind": kind, "ap": ap,
            "perturbation": perturbation}


def test_matrix_cells_are_mean_over_models_rows() -> None:
    rows = [
        _result(HUB, HUB, "mean_over_models", 0.9), _result(HUB, HUB, "overall", 0.1),
        _result(HUB, HUB, "model", 0.2), _result(HUB, "gans", "mean_over_models", 0.6),
        _result("gans", HUB, "mean_over_models", 0.55),
        _result("gans", "gans", "mean_over_models", 0.97),
        _result("gans", "gans", "mean_over_models", 0.1, perturbation="jpeg75"),
        _result("gans", "ext", "mean_over_models", None),
    ]
    cells = matrix(rows)
    assert cells == {(HUB, HUB): 0.9, (HUB, "gans"): 0.6, ("gans", HUB): 0.55,
                     ("gans", "gans"): 0.97, ("gans", "ext"): None}
    table = matrix_rows(cells)  # hub first, then by name; None where nothing was scored
    assert [list(r) for r in table] == [["train \\ eval", "hub", "ext", "gans"]] * 2
    assert table == [{"train \\ eval": "hub", "hub": 0.9, "ext": None, "gans": 0.6},
                     {"train \\ eval": "gans", "hub": 0.55, "ext": None, "gans": 0.97}]
    with pytest.raises(ValueError, match="two mean-over-models rows"):
        matrix([*rows, _result(HUB, HUB, "mean_over_models", 0.5)])


def test_matrix_plot_has_a_cell_per_pair() -> None:
    cells = {(HUB, HUB): 0.95, (HUB, "gans"): 0.5, ("gans", HUB): 0.2, ("gans", "gans"): None}
    png = matrix_png(cells)
    with Image.open(io.BytesIO(png)) as im:
        px = np.asarray(im.convert("RGB"))
        assert im.format == "PNG"
    colours = {tuple(c) for c in px.reshape(-1, 3)}
    for ap in (0.95, 0.2, None):
        assert colour(ap) in colours, ap
    wider = matrix_png({**cells, (HUB, "ext"): 0.7})
    with Image.open(io.BytesIO(wider)) as im:
        assert im.size[0] > px.shape[1]
    assert colour(0.5) == (255, 255, 255) and colour(1.0) == (31, 90, 170)
    assert colour(0.0) == (200, 40, 40)
