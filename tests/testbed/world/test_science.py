"""The science run's logic: the verdict on the finding, leave-one-family-out plans, the
seen-generator control's sets, and the benchmark record. Pure functions on plain rows; the
scaling asset itself runs for real in tests/studies/test_scaling.py and the world in
tests/testbed/world/."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from fakeimg_assets.studies.scaling import Draw, design_study, lofo_plan, lofo_table
from fakeimg_assets.studies.scaling_eval import eval_sets
from fakeimg_assets.testbed.world.findings import curve_table, judge, lofo_markdown, report_markdown

FAMS = {f"world/{f}-{i}": f for f in ("sd1", "sdxl", "sd3") for i in range(3)}
TEST = {"world/sd1-2", "world/sdxl-2", "world/sd3-2"}


def _rows(curve: dict[int, list[float]], *, seen: float = 0.99) -> list[dict]:
    rows = []
    for k, aps in curve.items():
        for d, ap in enumerate(aps):
            rows.append({"n_train_models": k, "draw": d, "control": False, "n_train_fake": 64,
                         "ap": ap, "n_families": min(k, 3), "seen_ap": seen,
                         "protocol": "scaling", "left_out_family": None})  # fmt: skip
    return rows


def test_the_finding_holds_on_a_rising_curve() -> None:
    f = judge(_rows({1: [0.70, 0.80, 0.75], 2: [0.85, 0.86, 0.84], 4: [0.96, 0.97, 0.965]}))
    assert f.holds and not f.failures
    assert [c["n_train_models"] for c in f.curve] == [1, 2, 4]
    assert f.curve[0]["ap_mean"] == pytest.approx(0.75)
    assert "0.750 ± 0.050" in curve_table(f)


@pytest.mark.parametrize(
    ("curve", "why"),
    [
        ({1: [0.90, 0.95], 2: [0.97, 0.98]}, "at k = 1 is 0.925, not below 0.9"),
        ({1: [0.70, 0.72], 2: [0.90, 0.94]}, "at k = 2 is 0.920, not above 0.95"),
        ({1: [0.70, 0.72], 2: [0.99, 0.99], 4: [0.951, 0.953]}, "AP drops from 0.990"),
    ],
)
def test_the_finding_fails_for_the_right_reason(curve: dict, why: str) -> None:
    f = judge(_rows(curve))
    assert not f.holds
    assert any(why in reason for reason in f.failures), f.failures


def test_a_drop_within_the_spread_is_not_a_failure() -> None:
    # 0.96 -> 0.955 with draws' sd ~0.02: within the spread, the curve counts as flat
    f = judge(_rows({1: [0.7, 0.8], 2: [0.94, 0.98], 4: [0.935, 0.975]}))
    assert f.holds, f.failures


def test_judge_needs_scaling_rows() -> None:
    with pytest.raises(ValueError, match="no scaling rows"):
        judge([])


def test_lofo_plan_trains_on_every_other_family() -> None:
    train = {m: f for m, f in FAMS.items() if m not in TEST}
    test = {m: FAMS[m] for m in TEST}
    design = design_study(train, test, 0, hold_out_family=False)
    assert set(design.pool) == set(train) and design.unseen_families == ()
    plan = lofo_plan(design, sorted(train), 32, seed=1)
    assert [d.left_out for d in plan] == ["sd1", "sd3", "sdxl"]
    for d in plan:
        assert d.models and all(FAMS[m] != d.left_out for m in d.models)
        assert set(d.models) == {m for m in train if FAMS[m] != d.left_out}
        assert d.n_fake == 32
    assert lofo_plan(design_study({"a/x": "sd1"}, {"a/y": "sd1"}, 0, hold_out_family=False),
                     ["a/x"], 8) == []  # one family: nothing to leave out


def _frame(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"image_id": i, "label": lab, "source": src, "split": sp, "path": f"{i}.png",
          "width": 32, "height": 32} for i, lab, src, sp in rows]  # fmt: skip
    )


def test_eval_sets_score_unseen_images_and_the_left_out_family() -> None:
    design = design_study({"w/a": "sd1", "w/b": "sdxl"}, {"w/c": "sd1", "w/d": "sdxl"}, 0,
                          hold_out_family=False)  # fmt: skip
    train_fakes = _frame([(f"a{i}", "fake", "w/a", "train") for i in range(6)]
                         + [(f"b{i}", "fake", "w/b", "train") for i in range(6)])  # fmt: skip
    test = _frame([("r0", "real", "photos", "test"), ("r1", "real", "photos", "test"),
                   ("c0", "fake", "w/c", "test"), ("d0", "fake", "w/d", "test")])  # fmt: skip
    trained_on = train_fakes.filter(pl.col("image_id").is_in(["a0", "a1", "a2"]))
    main = Draw(1, 0, False, ("w/a",), 3, 1, 2)
    sets = eval_sets(main, design, test, train_fakes, trained_on, 0)
    seen = sets["seen"].filter(pl.col("label") == "fake")["image_id"].to_list()
    assert sorted(seen) == ["a3", "a4", "a5"]  # its own model's images it did not train on
    assert sets["heldout"].equals(test)
    lofo = Draw(1, 0, False, ("w/b",), 3, 1, 2, left_out="sd1")
    sets = eval_sets(lofo, design, test, train_fakes, train_fakes.filter(pl.col("source") == "w/b").head(3), 0)
    left = set(sets["heldout"].filter(pl.col("label") == "fake")["source"].to_list())
    assert left == {"w/a", "w/c"}  # every generator of the left-out family, train side too
    assert set(sets["other"].filter(pl.col("label") == "fake")["source"].to_list()) == {"w/d"}
    everything = train_fakes.filter(pl.col("source") == "w/a")
    assert "seen" not in eval_sets(main, design, test, train_fakes, everything, 0)


def test_lofo_table_and_report() -> None:
    rows = _rows({1: [0.7, 0.8], 2: [0.96, 0.97]}) + [
        {"n_train_models": 4, "draw": 0, "control": False, "n_train_fake": 64, "ap": 0.61,
         "ap_other": 0.97, "seen_ap": 0.99, "n_heldout_models": 3, "n_families": 2,
         "protocol": "leave_one_family_out", "left_out_family": "sd3"},
    ]  # fmt: skip
    f = judge(rows)
    assert [c["n_train_models"] for c in f.curve] == [1, 2]  # the LOFO row is not a k point
    assert lofo_table(rows)[0]["ap_left_out_family"] == 0.61
    assert "| sd3 | 4 | 0.610 | 0.970 | 0.990 |" in lofo_markdown(f)
    md = report_markdown(f, {"study_id": "s1", "seconds": {"total": 12.0}})
    assert "Finding: HOLDS" in md and "total 12 s" in md


def test_benchmark_record_replaces_only_science_entries(tmp_path: Path) -> None:
    from benchmarks.science import entries, kept_entries, merge

    path = tmp_path / "results.json"
    path.write_text(json.dumps({"results": [{"name": "zoo build", "value": 1.0},
                                            {"name": "science: old", "value": 9.0}]}))  # fmt: skip
    f = judge(_rows({1: [0.7, 0.8], 2: [0.96, 0.97]}))
    report = {"study_id": "s2", "seconds": {"total": 900.0}, "finding": f.__dict__}
    merge(entries(report), path)
    names = [r["name"] for r in json.loads(path.read_text())["results"]]
    assert names[0] == "zoo build" and "science: old" not in names
    kept = kept_entries(path)
    assert len(kept) == 2 and kept[0]["ratio"] == pytest.approx(0.5)
    assert kept[1]["baseline"] == pytest.approx(0.75) and kept[1]["value"] == pytest.approx(0.965)


def test_balanced_split_seed_is_the_first_with_every_family_on_both_sides() -> None:
    import hashlib

    from fakeimg_assets.testbed.world.science import balanced_split_seed, family_sides
    from fakeimg_assets.testbed.world.spec import default_world

    spec = default_world(10, families=("sd1", "sdxl"))
    files = {}
    for g in spec.generators:
        sha = hashlib.sha256(g.model_id.encode()).hexdigest()
        files[f"{g.model_id}/unet/diffusion_pytorch_model.safetensors"] = sha
        files[f"{g.model_id}/vae/diffusion_pytorch_model.safetensors"] = "shared" * 10
    seed = balanced_split_seed(spec, files)
    assert all(s == {"train", "test"} for s in family_sides(spec, files, seed, 0.34).values())
    for earlier in range(seed):  # the first such seed, not just any
        assert any(len(s) == 1 for s in family_sides(spec, files, earlier, 0.34).values())
    # fine-tunes follow their base: a family's sides are its lineage groups' sides
    groups = {g.base or g.model_id for g in spec.generators if g.family == "sd1"}
    assert len(groups) == 2
    with pytest.raises(ValueError, match="one lineage group"):
        one = default_world(2, families=("sd1",))
        balanced_split_seed(one, {f"{g.model_id}/unet/w.safetensors": g.model_id * 2
                                  for g in one.generators})  # fmt: skip
