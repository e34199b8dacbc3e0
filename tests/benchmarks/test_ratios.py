"""The ratio benchmarks run for real on tiny sizes: each entry carries its baseline and a
ratio computed from the two measurements (no target is asserted: those are read off
`make bench`'s table)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.ratios import (
    bench_detector_loading,
    bench_quality_vs_decode,
    bench_warehouse_scale,
    merge,
    ratio_entry,
    ratio_interval,
)

KEYS = {"name", "value", "unit", "n", "baseline", "ratio"}


def _check(entries: list[dict]) -> None:
    assert entries
    for e in entries:
        assert KEYS <= e.keys(), e
        if e["baseline"] is not None:
            assert e["baseline"] > 0 and e["ratio"] == pytest.approx(e["value"] / e["baseline"])
        if "ratio_ci_low" in e:
            assert e["ratio_ci_low"] <= e["ratio_ci_high"] and min(e["runs"]) >= 2, e


def test_ratio_entry_says_which_way_is_better() -> None:
    e = ratio_entry("x", 3.0, 2.0, "img/s", 10, better="higher")
    assert e["ratio"] == 1.5 and e["better"] == "higher"
    with pytest.raises(ValueError, match="better"):
        ratio_entry("x", 1.0, 1.0, "s", 1, better="faster")


def test_a_ratio_carries_a_bootstrap_interval_of_its_runs() -> None:
    """The interval brackets the ratio of the medians, narrows as the runs agree, is the
    same on a rerun (fixed seed), and tells a 2x path from an equal one."""
    slow = [2.0, 2.1, 1.9, 2.05, 1.95, 2.2, 1.8]
    fast = [1.0, 1.05, 0.95, 1.02, 0.98, 1.1, 0.9]
    e = ratio_entry("x", 2.0, 1.0, "s", 7, better="lower", runs=(slow, fast))
    assert e["runs"] == [7, 7]
    assert 1.7 < e["ratio_ci_low"] <= 2.0 <= e["ratio_ci_high"] < 2.3, e
    assert ratio_interval(slow, fast) == (e["ratio_ci_low"], e["ratio_ci_high"])
    low, high = ratio_interval(fast, [1.0, 1.04, 0.96, 1.01, 0.99, 1.08, 0.92])
    assert low < 1.0 < high  # the same path measured twice: not told apart from 1
    tight = ratio_interval([2.0] * 7, [1.0] * 7)
    assert tight == (2.0, 2.0)
    wide = ratio_interval([1.0, 3.0, 2.0], [1.0, 0.5, 2.0])
    assert wide[1] - wide[0] > high - low
    # a ratio from one run a side has no interval; bad runs are refused by name
    assert "ratio_ci_low" not in ratio_entry("x", 2.0, 1.0, "s", 1, better="lower",
                                             runs=([2.0], [1.0]))
    with pytest.raises(ValueError, match="at least 2 runs"):
        ratio_interval([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="baseline"):
        ratio_interval([1.0, 2.0], [0.0, 1.0])


def test_the_interval_of_many_runs_stays_in_bounded_memory() -> None:
    """5,000 write times a side (the warehouse benchmark's) resample in chunks."""
    import numpy as np

    rng = np.random.default_rng(1)
    ours = list(3.0 + rng.random(5000))
    plain = list(1.0 + rng.random(5000))
    low, high = ratio_interval(ours, plain)
    assert 2.2 < low < 2.33 < high < 2.45, (low, high)


def test_quality_and_loader_benchmarks_measure_both_sides(tmp_path: Path) -> None:
    for e in bench_quality_vs_decode(tmp_path, n=24) + bench_detector_loading(tmp_path, n=64):
        assert e["runs"] == [5, 5] and e["ratio_ci_low"] <= e["ratio_ci_high"], e
    _check(bench_quality_vs_decode(tmp_path, n=24, rounds=2))
    _check(bench_detector_loading(tmp_path, n=64, rounds=2))


def test_the_warehouse_benchmark_compares_with_the_same_rows_natively(tmp_path: Path) -> None:
    entries = bench_warehouse_scale(tmp_path, partitions=12, per=7, repeat=1)
    _check(entries)
    queries = [e for e in entries if "query vs native table" in e["name"]]
    images = [e for e in queries if "rows)" in e["name"]]
    per_model = [e for e in queries if "(12 models)" in e["name"]]
    assert len(images) == 16 and all(e["n"] == 12 * 7 for e in images)
    assert len(per_model) == 8 and all(e["n"] == 12 for e in per_model)
    assert sum("compacted" in e["name"] for e in queries) == 12
    (compaction,) = [e for e in entries if e["name"].startswith("warehouse compaction")]
    assert compaction["n"] == 12 * 7 and compaction["baseline"] > 0


def test_merge_replaces_entries_of_the_same_name(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"machine": {"cpus": 2}, "results": [
        {"name": "a", "value": 1}, {"name": "b", "value": 2}]}))
    merge([{"name": "b", "value": 3}, {"name": "c", "value": 4}], path)
    doc = json.loads(path.read_text())
    assert doc["machine"] == {"cpus": 2}
    assert [(r["name"], r["value"]) for r in doc["results"]] == [("a", 1), ("b", 3), ("c", 4)]
