"""The science report from the studies' raw rows: the pre-registered verdict, the tables
with intervals, the baseline margin and the leave-one-family-out curve.

Everything here is a pure function of `scaling_results` rows (one study per world seed)
and the protocol, so the committed `report.json` (raw rows included) regenerates the
report, and the docs' figures are checked against it by a test. The verdict is the
protocol's: the slope of held-out AP on log2(k) with a two-level bootstrap interval
(`studies.verdict`), per world seed and pooled over the replication seeds; it holds when
the pooled interval excludes 0 from above.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fakeimg_assets.studies.baseline import BASELINE_NAME
from fakeimg_assets.studies.scaling import lofo_table
from fakeimg_assets.studies.verdict import (
    Estimate,
    RunScores,
    mean_bootstrap,
    paired_margin_bootstrap,
    pooled_slope_bootstrap,
    slope_bootstrap,
)


def _loads(value: Any) -> dict[str, float]:
    if isinstance(value, Mapping):
        return {str(k): float(v) for k, v in value.items()}
    return {str(k): float(v) for k, v in json.loads(value or "{}").items()}


def main_rows(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The main curve's runs (protocol 'scaling'), in k then draw order."""
    main = [r for r in rows if r.get("protocol", "scaling") == "scaling" and not r["control"]]
    return sorted(main, key=lambda r: (int(r["n_train_models"]), int(r["draw"])))


def run_scores(rows: Sequence[Mapping[str, Any]], column: str = "generator_ap") -> list[RunScores]:
    """`RunScores` of the main curve's runs (detector, or `baseline_generator_ap`)."""
    return [RunScores(int(r["n_train_models"]), int(r["draw"]), _loads(r[column]))
            for r in main_rows(rows)]  # fmt: skip


def _estimate(e: Estimate) -> dict[str, float | int]:
    return {"estimate": e.estimate, "ci_low": e.ci_low, "ci_high": e.ci_high,
            "replicates": e.replicates}  # fmt: skip


def per_k_table(rows: Sequence[Mapping[str, Any]], *, n_boot: int, level: float,
                seed: int) -> list[dict[str, Any]]:  # fmt: skip
    """One row per k: runs, families, mean held-out AP with its interval, the baseline's AP
    and the seen-generator control."""
    det, base = run_scores(rows), run_scores(rows, "baseline_generator_ap")
    main = main_rows(rows)
    out = []
    for k in sorted({r.k for r in det}):
        idx = [i for i, r in enumerate(det) if r.k == k]
        e = mean_bootstrap([det[i] for i in idx], n_boot=n_boot, level=level, seed=seed + k)
        seen = [main[i].get("seen_ap") for i in idx if main[i].get("seen_ap") is not None]
        out.append({
            "k": k, "runs": len(idx),
            "families": statistics.fmean(int(main[i]["n_families"]) for i in idx),
            "ap": e.estimate, "ap_ci_low": e.ci_low, "ap_ci_high": e.ci_high,
            "baseline_ap": statistics.fmean(base[i].ap for i in idx),
            "seen_ap": statistics.fmean(seen) if seen else None,
        })  # fmt: skip
    return out


def lofo_curve(rows: Sequence[Mapping[str, Any]], *, n_boot: int, level: float,
               seed: int) -> list[dict[str, Any]]:  # fmt: skip
    """AP on a left-out family vs the number of other-family generators trained on: per k,
    the mean over its runs (each leaving out a family in turn) with a percentile interval
    over runs."""
    curve = [r for r in rows if r.get("protocol") == "lofo_curve"]
    out = []
    for k in sorted({int(r["n_train_models"]) for r in curve}):
        aps = np.asarray([float(r["ap"]) for r in curve if int(r["n_train_models"]) == k])
        rng = np.random.default_rng(seed + k)
        reps = aps[rng.integers(0, aps.size, size=(n_boot, aps.size))].mean(axis=1)
        tail = (1 - level) / 2 * 100
        lo, hi = np.percentile(reps, [tail, 100 - tail])
        fams = sorted({str(r["left_out_family"]) for r in curve if int(r["n_train_models"]) == k})
        out.append({"k": k, "runs": int(aps.size), "left_out_families": fams,
                    "ap": float(aps.mean()), "ap_ci_low": float(lo), "ap_ci_high": float(hi)})
    return out


def seed_summary(rows: Sequence[Mapping[str, Any]], verdict: Mapping[str, Any],
                 *, seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """One world seed's statistics: the slope, the per-k table, the baseline margin (on
    the runs at the largest k) and both leave-one-family-out views."""
    n_boot, level = int(verdict["bootstrap"]), float(verdict["level"])
    det, base = run_scores(rows), run_scores(rows, "baseline_generator_ap")
    if not det:
        raise ValueError("no main-curve runs to judge: did the scaling study run?")
    kmax = max(r.k for r in det)
    top = [i for i, r in enumerate(det) if r.k == kmax]
    slope = slope_bootstrap(det, n_boot=n_boot, level=level, seed=seed)
    margin = paired_margin_bootstrap([det[i] for i in top], [base[i] for i in top],
                                     n_boot=n_boot, level=level, seed=seed)  # fmt: skip
    all_margin = paired_margin_bootstrap(det, base, n_boot=n_boot, level=level, seed=seed)
    return {
        "slope": _estimate(slope),
        "per_k": per_k_table(rows, n_boot=n_boot, level=level, seed=seed),
        "baseline": {"name": BASELINE_NAME, "k": kmax,
                     "ap": statistics.fmean(base[i].ap for i in top),
                     "detector_ap": statistics.fmean(det[i].ap for i in top),
                     "margin": _estimate(margin), "margin_all_runs": _estimate(all_margin)},
        "lofo": lofo_table(rows),
        "lofo_curve": lofo_curve(rows, n_boot=n_boot, level=level, seed=seed),
    }  # fmt: skip


def pooled(studies: Sequence[Sequence[Mapping[str, Any]]], verdict: Mapping[str, Any],
           *, seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """The replication's verdict over the seeds' studies, and the pooled baseline margin."""
    n_boot, level = int(verdict["bootstrap"]), float(verdict["level"])
    det = [run_scores(rows) for rows in studies]
    est = pooled_slope_bootstrap(det, n_boot=n_boot, level=level, seed=seed)
    margins = []
    for rows in studies:
        d, b = run_scores(rows), run_scores(rows, "baseline_generator_ap")
        kmax = max(r.k for r in d)
        top = [i for i, r in enumerate(d) if r.k == kmax]
        margins.append(paired_margin_bootstrap([d[i] for i in top], [b[i] for i in top],
                                               n_boot=n_boot, level=level, seed=seed))
    return {
        "verdict": {"statistic": str(verdict["statistic"]), "estimate": est.estimate,
                    "ci_low": est.ci_low, "ci_high": est.ci_high, "level": level,
                    "bootstrap": n_boot, "rule": str(verdict["rule"]),
                    "holds": bool(est.excludes_zero_above()), "seeds": len(studies)},
        "margin": {
            "estimate": statistics.fmean(m.estimate for m in margins),
            # the mean of the seeds' interval ends: each seed resampled on its own
            "ci_low": statistics.fmean(m.ci_low for m in margins),
            "ci_high": statistics.fmean(m.ci_high for m in margins),
        },
    }  # fmt: skip


def _f(x: Any, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _ci(row: Mapping[str, Any], key: str = "ap") -> str:
    return f"{_f(row[key])} [{_f(row[f'{key}_ci_low'])}, {_f(row[f'{key}_ci_high'])}]"


def report_markdown(doc: Mapping[str, Any]) -> str:
    """The report a reader reads: the verdict first, then each seed's tables."""
    v = doc["verdict"]
    lines = [
        f"# Science run, protocol version {doc['protocol_version']}", "",
        f"Verdict ({v['statistic']}, {v['seeds']} "
        f"{'development' if doc.get('development') else 'replication'} seed(s), {v['level']:.0%} "
        f"two-level bootstrap, rule `{v['rule']}`): **{'holds' if v['holds'] else 'does not hold'}**"
        f" — slope {_f(v['estimate'])} [{_f(v['ci_low'])}, {_f(v['ci_high'])}] AP per "
        "doubling of the training generators.", "",
        f"Baseline ({doc['baseline']['name']}) at the largest k: AP {_f(doc['baseline']['ap'])};"
        f" the detector's margin {_f(doc['baseline']['margin'])} "
        f"[{_f(doc['baseline']['margin_ci_low'])}, {_f(doc['baseline']['margin_ci_high'])}].",
        "", f"Prompts: {len(doc['prompts'])} distinct.", "",
    ]  # fmt: skip
    for name, key in (("Diversity (finding 2)", "diversity"),
                      ("Cross-dataset (finding 3)", "cross_dataset")):
        held = [r[key]["verdict"].get("difference", r[key]["verdict"])["holds"]
                for r in doc["runs"] if r.get("status") == "ok" and r.get(key, {}).get("verdict")]
        if held:
            lines += [f"{name}: holds in {sum(held)} of {len(held)} seed(s) (rule: the "
                      "interval's lower end above 0 in every seed).", ""]
    for run in doc["runs"]:
        lines += [f"## World seed {run['world_seed']} (split seed {run.get('split_seed')})", ""]
        if run.get("status") != "ok":
            lines += [f"FAILED: {run.get('error')}", ""]
            continue
        s = run["summary"]
        lines += [
            f"Slope {_f(s['slope']['estimate'])} [{_f(s['slope']['ci_low'])}, "
            f"{_f(s['slope']['ci_high'])}]; held out: {', '.join(run['held_out'])}.", "",
            "| k | runs | families | held-out AP [95% CI] | baseline AP | seen AP |",
            "|---:|---:|---:|---|---:|---:|",
            *[f"| {r['k']} | {r['runs']} | {r['families']:.1f} | {_ci(r)} | "
              f"{_f(r['baseline_ap'])} | {_f(r['seen_ap'])} |" for r in s["per_k"]],
            "", "Leave one family out, as a curve (AP on the left-out family vs generators of the "
            "other families):", "",
            "| other-family generators | runs | AP on the left-out family [95% CI] |",
            "|---:|---:|---|",
            *[f"| {r['k']} | {r['runs']} | {_ci(r)} |" for r in s["lofo_curve"]],
            "",
        ]  # fmt: skip
        if run.get("per_scene"):
            lines += ["Per scene (largest k): " + ", ".join(
                f"{p['scene']} {_f(p['ap'])}" for p in run["per_scene"]), ""]
        for a in run.get("shortcut_audit") or []:
            scope = f", {a['scope']}" if a.get("scope") else ""  # version 2 kept no scope
            lines += [f"Shortcut audit ({a['feature_set']}{scope}): AUC {_f(a['auc'])} "
                      f"[{_f(a['auc_ci_low'])}, {_f(a['auc_ci_high'])}].", ""]
        if run.get("world"):
            fams: dict[str, list[float]] = {}
            for g in run["world"]:
                fams.setdefault(g["family"], []).append(g["high_freq_energy"])
            lines += ["High-frequency energy of the generators' samples (share of spectral energy "
                      "above half Nyquist), per family: " + ", ".join(
                          f"{f} {_f(min(v))}–{_f(max(v))}" for f, v in sorted(fams.items())) + ".",
                      ""]  # fmt: skip
        lines += findings_two_and_three_markdown(run)
        secs = ", ".join(f"{k} {v:.0f} s" for k, v in run.get("seconds", {}).items())
        lines += [f"Timings: {secs}.", ""]
    return "\n".join(lines)


def findings_two_and_three_markdown(run: Mapping[str, Any]) -> list[str]:
    """A seed's diversity rows and verdict, and its cross-dataset matrix and paired verdict
    (protocol version 3 on); nothing for runs without them."""
    lines: list[str] = []
    div = run.get("diversity")
    if div:
        v = div["verdict"]
        d = v["difference"]
        lines += [
            "Diversity (finding 2): at a fixed number of training generators and images, "
            "one family vs many.", "",
            "| condition | draw | families | training generators | held-out AP |",
            "|---|---:|---:|---|---:|",
            *[f"| {r['condition']} | {r['draw']} | {r['n_families']} | "
              f"{', '.join(r['train_models'])} | {_f(r['ap'])} |" for r in div["rows"]],
            "", f"Mean AP single family {_ci3(v['single_family'])}, many families "
            f"{_ci3(v['multi_family'])}; difference {_ci3(d)}: "
            f"**{'holds' if d['holds'] else 'does not hold'}**.", "",
        ]  # fmt: skip
    cross = run.get("cross_dataset")
    if cross:
        lines += [
            "Cross-dataset (finding 3): detectors trained on each source at equal image "
            "counts, each scored on the other sources' held-out parts and the outside sets.", "",
            "| trained on | scored on | real | fake | AP [95% CI] |", "|---|---|---:|---:|---|",
            *[f"| {r['train_source']} | {r['eval_set']} | {r['n_real']} | {r['n_fake']} | "
              f"{_ci(r)} |" for r in cross["matrix"]], "",
        ]  # fmt: skip
        v = cross.get("verdict")
        if v:
            lines += [f"Paired on {v['eval_set']} ({v['statistic']}): {_ci3(v)}: "
                      f"**{'holds' if v['holds'] else 'does not hold'}**.", ""]
    return lines


def _ci3(e: Mapping[str, Any]) -> str:
    return f"{_f(e['estimate'])} [{_f(e['ci_low'])}, {_f(e['ci_high'])}]"
