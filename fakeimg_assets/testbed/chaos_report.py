"""What a chaos run found, and which of its expectations broke (pure, tested apart).

`ChaosReport` is filled by `fakeimg_assets.testbed.chaos.run_chaos`; `check_outcomes` turns it into
a list of problems in words, so the test, `fakeimg chaos` and `make chaos` fail alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ChaosReport:
    """What happened, and `problems`: every expectation the run broke (empty: it passed)."""

    expected: dict[str, str] = field(default_factory=dict)  # model id -> expect
    sampled: dict[str, int] = field(default_factory=dict)  # model id -> fake images
    refused: dict[str, str] = field(default_factory=dict)  # model id -> latest reason
    recovered: dict[str, str] = field(default_factory=dict)  # sampled after a failed try
    transient: dict[str, bool] = field(default_factory=dict)  # model id -> latest transient
    fault_counts: dict[str, int] = field(default_factory=dict)
    n_requests: int = 0
    file_requests: int = 0  # GET/HEAD of `/resolve/` (file bodies and metadata)
    statuses: dict[int, int] = field(default_factory=dict)
    forbidden_requests: list[str] = field(default_factory=list)
    unrefetched: list[str] = field(default_factory=list)  # damaged bodies never fetched again
    canaries: list[str] = field(default_factory=list)
    steps_failed: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def figures(self) -> str:
        """The numbers for a closing note, one fact per line."""
        healthy = [m for m, e in self.expected.items() if e != "failure"]
        refusable = [m for m, e in self.expected.items() if e == "failure"]
        faults = ", ".join(f"{k} {n}" for k, n in self.fault_counts.items())
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        lines = [
            f"models: {len(self.expected)} served; {len(self.sampled)} sampled "
            f"({sum(self.sampled.values())} images), expected {len(healthy)}; "
            f"{len(self.refused)} refused, expected {len(refusable)}; "
            f"{len(self.recovered)} sampled after a failed attempt",
            f"faults injected: {faults} (total {sum(self.fault_counts.values())})",
            f"requests: {self.n_requests} ({statuses})",
            f"forbidden file requests: {len(self.forbidden_requests)}; "
            f"canaries fired: {len(self.canaries)}",
            "wall time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()),
        ]
        for model_id, reason in sorted(self.refused.items()):
            kind = "transient" if self.transient.get(model_id) else "permanent"
            lines.append(f"  refused {model_id} ({kind}): {reason[:140]}")
        lines.extend(f"PROBLEM: {p}" for p in self.problems)
        return "\n".join(lines)


def unrefetched_bodies(records: list[dict]) -> list[str]:
    """`fault kind path` of each truncated/corrupt body with no later clean GET of the path.

    `records` are the server's request-log lines in order. A client that checks sizes and
    sha256 must fetch a damaged file again; one that trusts the bytes never does.
    """
    missing = []
    for i, rec in enumerate(records):
        if rec.get("fault") not in ("truncate", "corrupt") or rec.get("method") != "GET":
            continue
        if not any(
            later.get("path") == rec["path"]
            and later.get("method") == "GET"
            and later.get("fault") is None
            and later.get("status") in (200, 206)
            for later in records[i + 1 :]
        ):
            missing.append(f"{rec['fault']} {rec['path']}")
    return missing


def check_outcomes(report: ChaosReport) -> list[str]:
    """Every broken expectation, in words (pure: tested apart from the run)."""
    problems = [f"step failed: {s}" for s in report.steps_failed]
    for model_id, expect in sorted(report.expected.items()):
        if expect in ("ok", "quarantine"):
            if not report.sampled.get(model_id):
                why = report.refused.get(model_id, "no failure row")
                problems.append(f"healthy {model_id} ({expect}) was not sampled: {why}")
        elif model_id in report.sampled:
            problems.append(f"{model_id} must be refused but has {report.sampled[model_id]} images")
        elif model_id not in report.refused:
            problems.append(f"{model_id} must be refused but has no model_failures row")
        elif report.transient.get(model_id):
            problems.append(f"{model_id} refused as transient: {report.refused[model_id]}")
    problems.extend(f"forbidden file requested: {p!r}" for p in report.forbidden_requests)
    problems.extend(
        f"damaged body never fetched again (was it verified?): {p}" for p in report.unrefetched
    )
    problems.extend(
        f"canary fired (something was unpickled or imported): {c}" for c in report.canaries
    )
    for kind, n in sorted(report.fault_counts.items()):
        if n < 1:
            problems.append(f"fault kind {kind!r} never fired: raise its rate")
    if report.file_requests == 0:
        problems.append("the request log shows no file requests: it cannot prove anything")
    if not report.fault_counts:
        problems.append("the server reported no fault counters")
    return problems
