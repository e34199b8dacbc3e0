"""The verdict on the paper's finding from a scaling study's rows, and its report.

The finding (issue 7): mean held-out AP at k = 1 below 0.90, at the largest k above 0.95,
and non-decreasing in k within the draws' spread (a drop larger than the larger of the two
standard deviations breaks it). AP on seen generators is the control: it must stay high at
every k, or the detector is simply failing. Pure functions over plain rows: testable
without training anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fakeimg_assets.studies.scaling import lofo_table, summarize

K1_MAX = 0.90
KMAX_MIN = 0.95


@dataclass
class Finding:
    """The curve, the leave-one-family-out table and whether the finding holds (and why not)."""
    curve: list[dict[str, Any]]
    control: list[dict[str, Any]]
    lofo: list[dict[str, Any]]
    holds: bool
    failures: list[str] = field(default_factory=list)


def judge(rows: Sequence[Mapping[str, Any]]) -> Finding:
    """Judge the main curve (`protocol` 'scaling'); the control and LOFO rows are reported."""
    main = [r for r in rows if r.get("protocol", "scaling") == "scaling" and not r["control"]]
    if not main:
        raise ValueError("no scaling rows to judge: did the scaling study run?")
    summary = summarize(rows)
    curve = [s for s in summary if not s["control"]]
    control = [s for s in summary if s["control"]]
    failures = []
    k1, kmax = curve[0], curve[-1]
    if k1["n_train_models"] != 1:
        failures.append(f"the curve starts at k = {k1['n_train_models']}, not 1")
    if k1["ap_mean"] is None or k1["ap_mean"] >= K1_MAX:
        failures.append(f"mean held-out AP at k = 1 is {_f(k1['ap_mean'])}, not below {K1_MAX}")
    if kmax["ap_mean"] is None or kmax["ap_mean"] <= KMAX_MIN:
        failures.append(
            f"mean held-out AP at k = {kmax['n_train_models']} is {_f(kmax['ap_mean'])}, "
            f"not above {KMAX_MIN}"
        )
    for a, b in zip(curve, curve[1:], strict=False):
        if a["ap_mean"] is None or b["ap_mean"] is None:
            continue
        slack = max(a["ap_std"] or 0.0, b["ap_std"] or 0.0)
        if b["ap_mean"] < a["ap_mean"] - slack:
            failures.append(
                f"AP drops from {_f(a['ap_mean'])} at k = {a['n_train_models']} to "
                f"{_f(b['ap_mean'])} at k = {b['n_train_models']}, more than the spread {slack:.3f}"
            )
    return Finding(curve, control, lofo_table(rows), not failures, failures)


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _pm(mean: float | None, std: float | None) -> str:
    return "n/a" if mean is None else f"{mean:.3f} ± {std or 0.0:.3f}"


def curve_table(finding: Finding) -> str:
    """The AP-vs-k table (markdown) with spreads and the seen-generator control."""
    lines = [
        "| k (training generators) | draws | families (mean) | held-out AP (mean ± sd) | "
        "min | max | seen-generator AP |",
        "|---:|---:|---:|---|---:|---:|---:|",
    ]
    for s in finding.curve:
        lines.append(
            f"| {s['n_train_models']} | {s['draws']} | {s['n_families']:.1f} | "
            f"{_pm(s['ap_mean'], s['ap_std'])} | {_f(s['ap_min'])} | {_f(s['ap_max'])} | "
            f"{_f(s['seen_ap_mean'])} |"
        )
    for s in finding.control:
        lines.append(
            f"| {s['n_train_models']} (control: {s['n_train_fake']} fakes) | {s['draws']} | "
            f"{s['n_families']:.1f} | {_pm(s['ap_mean'], s['ap_std'])} | {_f(s['ap_min'])} | "
            f"{_f(s['ap_max'])} | {_f(s['seen_ap_mean'])} |"
        )
    return "\n".join(lines)


def lofo_markdown(finding: Finding) -> str:
    """Leave-one-family-out: AP on a family no training model came from, vs the others."""
    lines = [
        "| left-out family | training generators | AP on the left-out family | "
        "AP on other held-out generators | seen-generator AP |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in finding.lofo:
        lines.append(
            f"| {r['left_out_family']} | {r['n_train_models']} | {_f(r['ap_left_out_family'])} "
            f"| {_f(r['ap_other_heldout'])} | {_f(r['seen_ap'])} |"
        )
    return "\n".join(lines)


def report_markdown(finding: Finding, doc: Mapping[str, Any]) -> str:
    """The science report: verdict, curve, leave-one-family-out table, timings."""
    verdict = "HOLDS" if finding.holds else "DOES NOT HOLD: " + "; ".join(finding.failures)
    secs = doc.get("seconds", {})
    timing = ", ".join(f"{k} {v:.0f} s" for k, v in secs.items())
    return "\n".join([
        f"# Scaling study {doc.get('study_id')}", "", f"Finding: {verdict}", "",
        curve_table(finding), "", "## Leave one family out", "", lofo_markdown(finding), "",
        f"Timings: {timing}.", "",
    ])  # fmt: skip
