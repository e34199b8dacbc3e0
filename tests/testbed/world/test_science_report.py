"""The committed science runs are checkable: the current protocol's (docs/science/report.json,
the first N replication seeds) and version 2's (docs/science/v2/, all three) each ran under
its registered protocol, their verdicts and baseline margins recompute from their raw rows
(and, from version 3, the diversity verdict from its rows), each report.md is generated from
its report.json, and every figure the docs quote in their results section is a report's."""

from __future__ import annotations

import json
import re

import pytest

from fakeimg_assets.testbed.world.findings import pooled, report_markdown
from fakeimg_assets.testbed.world.protocol import (
    LOCK_FILE,
    PROTOCOL_FILE,
    parse_protocol,
    read_lock,
)
from fakeimg_assets.testbed.world.science import study_rows

SCIENCE = PROTOCOL_FILE.parent
DOC = SCIENCE.parent / "science.md"
REPORTS = {"current": SCIENCE, "v2": SCIENCE / "v2"}  # each folder: report.json + report.md


@pytest.fixture(scope="module", params=sorted(REPORTS))
def folder(request: pytest.FixtureRequest):
    return REPORTS[request.param]


@pytest.fixture(scope="module")
def report(folder) -> dict:
    return json.loads((folder / "report.json").read_text())


def test_the_run_used_the_registered_protocol_and_its_replication_seeds(
    report: dict, folder
) -> None:
    protocol, _ = parse_protocol(PROTOCOL_FILE.read_text())
    if folder == SCIENCE:
        assert report["protocol_version"] == protocol.version
    assert report["protocol_digest"] == read_lock(LOCK_FILE)[str(report["protocol_version"])]
    assert report["development"] is False
    replication = [int(s) for s in protocol["seeds"]["replication"]]
    assert report["seeds"] and report["seeds"] == replication[:len(report["seeds"])]
    assert not set(report["seeds"]) & {int(s) for s in protocol["seeds"]["development"]}


def test_the_verdict_recomputes_from_the_raw_rows(report: dict) -> None:
    protocol, _ = parse_protocol(PROTOCOL_FILE.read_text())
    ok = [r for r in report["runs"] if r["status"] == "ok"]
    assert ok, "no seed ran"
    for run in ok:
        assert {r["k"] for r in run["rows"]} and run["held_out"] and run["prompts"]
        singles = sorted(r["generators"][0] for r in run["rows"] if r["k"] == 1)
        assert singles == sorted({m for r in run["rows"] for m in r["generators"]})
    again = pooled([study_rows(r) for r in ok], protocol["verdict"], seed=0)
    for key in ("estimate", "ci_low", "ci_high", "holds"):
        assert again["verdict"][key] == pytest.approx(report["verdict"][key]), key
    assert again["margin"]["estimate"] == pytest.approx(report["baseline"]["margin"])
    assert len(report["prompts"]) >= int(protocol["split"]["min_prompts"])


def test_the_diversity_verdict_recomputes_from_the_raw_rows(report: dict) -> None:
    from fakeimg_assets.studies.diversity_verdict import verdict

    protocol, _ = parse_protocol(PROTOCOL_FILE.read_text())
    runs = [r for r in report["runs"] if r["status"] == "ok" and "diversity" in r]
    if report["protocol_version"] < 3:
        assert not runs  # the study entered the protocol in version 3
        return
    assert runs, "a version-3 run without the diversity study"
    for run in runs:
        div = run["diversity"]
        assert {r["condition"] for r in div["rows"]} == {"single_family", "multi_family"}
        again = verdict(div["rows"], n_boot=int(protocol["diversity"]["bootstrap"]),
                        seed=run["world_seed"])
        assert again == div["verdict"]
        cross = run["cross_dataset"]
        assert cross["matrix"] and cross["verdict"]["eval_set"] == "world-benchmark"


def test_report_md_is_generated_from_report_json(report: dict, folder) -> None:
    assert (folder / "report.md").read_text() == report_markdown(report)


def test_every_figure_in_the_docs_results_is_the_reports() -> None:
    text = DOC.read_text()
    starts = [m.start() for m in re.finditer(r"^## Results", text, flags=re.M)]
    assert len(starts) == len(REPORTS), "one results section per committed report"
    results = "".join(text[s:text.index("\n## ", s)] for s in starts)
    number = r"(?<!\d)(?<!\d\.)\d+\.\d+(?!\d|\.\d)"  # whole decimals: 0.95 is not 0.955
    figures = set(re.findall(number, results))
    reported = set().union(*(re.findall(number, (f / "report.md").read_text())
                             for f in REPORTS.values()))
    missing = sorted(figures - reported)
    assert figures and not missing, f"figures in docs/science.md not in report.md: {missing}"
