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
)

KEYS = {"name", "value", "unit", "n", "baseline", "ratio"}


def _check(entries: list[dict]) -> None:
    assert entries
    for e in entries:
        assert KEYS <= e.keys(), e
        if e["baseline"] is not None:
            assert e["baseline"] > 0 and e["ratio"] == pytest.approx(e["value"] / e["baseline"])


def test_ratio_entry_says_which_way_is_better() -> None:
    e = ratio_entry("x", 3.0, 2.0, "img/s", 10, better="higher")
    assert e["ratio"] == 1.5 and e["better"] == "higher"
    with pytest.raises(ValueError, match="better"):
        ratio_entry("x", 1.0, 1.0, "s", 1, better="faster")


def test_quality_and_loader_benchmarks_measure_both_sides(tmp_path: Path) -> None:
    _check(bench_quality_vs_decode(tmp_path, n=24))
    _check(bench_detector_loading(tmp_path, n=64))


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
