"""The science run's logic on plain rows: leave-one-family-out plans, the seen-generator
control's sets, the leave-one-family-out table, and the benchmark record. The verdict's
statistics are in tests/studies/test_verdict.py, the study design in
tests/studies/test_study_design.py; the run itself in test_science_run.py."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from fakeimg_assets.studies.scaling import Draw, design_study, lofo_plan, lofo_table
from fakeimg_assets.studies.scaling_eval import eval_sets

FAMS = {f"world/{f}-{i}": f for f in ("sd1", "sdxl", "sd3") for i in range(3)}
TEST = {"world/sd1-2", "world/sdxl-2", "world/sd3-2"}


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


def test_lofo_table_keeps_only_leave_one_family_out_rows() -> None:
    rows = [
        {"n_train_models": 2, "draw": 0, "control": False, "ap": 0.9, "protocol": "scaling",
         "left_out_family": None},
        {"n_train_models": 4, "draw": 0, "control": False, "n_train_fake": 64, "ap": 0.61,
         "ap_other": 0.97, "seen_ap": 0.99, "n_heldout_models": 3, "n_families": 2,
         "protocol": "leave_one_family_out", "left_out_family": "sd3"},
    ]  # fmt: skip
    (row,) = lofo_table(rows)
    assert row["left_out_family"] == "sd3" and row["ap_left_out_family"] == 0.61


def _report(total: float, holds: bool, failed: bool = False) -> dict:
    runs = [{"world_seed": 1101, "status": "ok", "seconds": {"total": total}, "rows": [{}] * 3}]
    if failed:
        runs.append({"world_seed": 2202, "status": "failed", "error": "boom"})
    return {"protocol_version": 2, "seeds": [r["world_seed"] for r in runs], "runs": runs,
            "verdict": {"holds": holds, "estimate": 0.02, "ci_low": 0.01, "ci_high": 0.03},
            "baseline": {"name": "pixel_stats_logreg", "margin": 0.1}}  # fmt: skip


def test_benchmark_record_replaces_only_science_entries(tmp_path: Path) -> None:
    from benchmarks.science import entries, kept_entries, merge

    path = tmp_path / "results.json"
    path.write_text(json.dumps({"results": [{"name": "zoo build", "value": 1.0},
                                            {"name": "science: old", "value": 9.0}]}))  # fmt: skip
    merge(entries(_report(900.0, True, failed=True)), path)
    names = [r["name"] for r in json.loads(path.read_text())["results"]]
    assert names[0] == "zoo build" and "science: old" not in names
    timing, slope = kept_entries(path)
    assert timing["ratio"] == pytest.approx(0.5)  # 900 s against 30 minutes per seed
    assert timing["failed_seeds"] == [2202]  # a failed seed is reported, not dropped
    assert slope["baseline"] == 0.0 and (slope["ci_low"], slope["ci_high"]) == (0.01, 0.03)
