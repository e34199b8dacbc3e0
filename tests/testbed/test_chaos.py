"""The chaos run: every fault kind on, hostile repos served, and still a clean finish.

`make chaos` / `fakeimg chaos` run the same `run_chaos`; this is its test. The expectation
checker is tested apart (each broken expectation is named), so the slow run cannot pass
by checking nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fakeimg_assets.testbed.chaos import run_chaos
from fakeimg_assets.testbed.chaos_report import ChaosReport, check_outcomes, unrefetched_bodies
from fakeimg_assets.testbed.local_hub.faults import FAULT_KINDS
from fakeimg_assets.testbed.zoo.hostile import build_hostile


def _passing_report() -> ChaosReport:
    return ChaosReport(
        expected={"a/ok": "ok", "a/black": "quarantine", "h/glob": "failure"},
        sampled={"a/ok": 2, "a/black": 2},
        refused={"h/glob": "[plan] file name 'unet/*' has glob characters"},
        transient={"h/glob": False},
        fault_counts={kind: 3 for kind in FAULT_KINDS},
        n_requests=100,
        file_requests=40,
    )


def test_a_clean_report_has_no_problems() -> None:
    assert check_outcomes(_passing_report()) == []


@pytest.mark.parametrize(
    ("breakage", "words"),
    [
        (lambda r: r.sampled.pop("a/ok"), "healthy a/ok (ok) was not sampled"),
        (lambda r: r.sampled.pop("a/black"), "healthy a/black (quarantine)"),
        (lambda r: r.sampled.update({"h/glob": 1}), "h/glob must be refused but has 1 images"),
        (lambda r: r.refused.pop("h/glob"), "h/glob must be refused but has no model_failures"),
        (lambda r: r.transient.update({"h/glob": True}), "refused as transient"),
        (lambda r: r.forbidden_requests.append("/h/glob/resolve/x/unet/a.bin"), "forbidden"),
        (lambda r: r.canaries.append("h--glob--unet--a.bin"), "canary fired"),
        (lambda r: r.unrefetched.append("corrupt /a/ok/resolve/x/unet/m.safetensors"), "verified"),
        (lambda r: r.fault_counts.update({"corrupt": 0}), "'corrupt' never fired"),
        (lambda r: r.fault_counts.clear(), "no fault counters"),
        (lambda r: setattr(r, "file_requests", 0), "no file requests"),
        (lambda r: r.steps_failed.append("hub_crawl: 503"), "step failed: hub_crawl"),
    ],
)
def test_each_broken_expectation_is_named(breakage, words: str) -> None:
    report = _passing_report()
    breakage(report)
    problems = check_outcomes(report)
    assert len(problems) == 1 and words in problems[0], problems


def test_damaged_bodies_must_be_fetched_again() -> None:
    body = "/a/ok/resolve/x/unet/m.safetensors"
    log = [
        {"method": "GET", "path": body, "status": 200, "fault": "corrupt"},
        {"method": "HEAD", "path": body, "status": 200, "fault": None},
        {"method": "GET", "path": "/a/ok/resolve/x/vae/m.safetensors", "status": 200,
         "fault": "truncate"},
        {"method": "GET", "path": "/a/ok/resolve/x/vae/m.safetensors", "status": 206,
         "fault": None},
    ]
    assert unrefetched_bodies(log) == [f"corrupt {body}"]  # a HEAD is no re-fetch
    log.append({"method": "GET", "path": body, "status": 200, "fault": None})
    assert unrefetched_bodies(log) == []


@pytest.mark.slow
def test_chaos_run(zoo_dir: Path, tmp_path: Path) -> None:
    """Zoo + hostile repos, every fault kind, the platform end to end without the detector."""
    root = tmp_path / "zoo"
    shutil.copytree(zoo_dir, root)  # the session zoo stays as other tests expect it
    build_hostile(root)
    report = run_chaos(tmp_path / "work", zoo_root=root)
    figures = report.figures()
    print("\n" + figures)
    (tmp_path / "figures.txt").write_text(figures + "\n")
    assert report.ok, figures
    # beyond the checker: each kind fired several times, hostile repos were all in play
    assert min(report.fault_counts.values()) >= 2, figures
    assert sum(1 for m in report.refused if m.startswith("hostile-zoo/")) == 5, figures
