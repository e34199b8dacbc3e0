"""The committed science run (docs/science/report.json) is checkable: it ran under the
registered protocol on its replication seeds, its verdict and baseline margin recompute
from its raw rows, report.md is generated from it, and every figure the docs quote in
their results section is one of the report's."""

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
REPORT = SCIENCE / "report.json"
DOC = SCIENCE.parent / "science.md"


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads(REPORT.read_text())


def test_the_run_used_the_registered_protocol_and_its_replication_seeds(report: dict) -> None:
    protocol, _ = parse_protocol(PROTOCOL_FILE.read_text())
    assert report["protocol_version"] == protocol.version
    assert report["protocol_digest"] == read_lock(LOCK_FILE)[str(protocol.version)]
    assert report["development"] is False
    assert report["seeds"] == [int(s) for s in protocol["seeds"]["replication"]]
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


def test_report_md_is_generated_from_report_json(report: dict) -> None:
    assert (SCIENCE / "report.md").read_text() == report_markdown(report)


def test_every_figure_in_the_docs_results_is_the_reports() -> None:
    text = DOC.read_text()
    start = text.index("## Results")
    results = text[start:text.index("\n## ", start)]
    number = r"(?<!\d)(?<!\d\.)\d+\.\d+(?!\d|\.\d)"  # whole decimals: 0.95 is not 0.955
    figures = set(re.findall(number, results))
    reported = set(re.findall(number, (SCIENCE / "report.md").read_text()))
    missing = sorted(figures - reported)
    assert figures and not missing, f"figures in docs/science.md not in report.md: {missing}"
