"""Record a `make science` run in `benchmarks/results.json` (it is a benchmark, not a test).

`make bench` does not rerun the science (up to an hour and a quarter); it keeps these entries when it
rewrites the file, so the latest science figures stay beside the other measurements.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")
PREFIX = "science"


def entries(report: dict) -> list[dict]:
    """The benchmark entries of one science report: each seed's wall time against the
    30-minute target, and the verdict's slope with its interval (baseline 0: no effect)."""
    ok = [r for r in report["runs"] if r.get("status") == "ok"]
    total = sum(r["seconds"]["total"] for r in ok)
    v = report["verdict"]
    common = {"protocol_version": report["protocol_version"], "seeds": report["seeds"],
              "holds": v["holds"], "failed_seeds": [r["world_seed"] for r in report["runs"]
                                                    if r.get("status") != "ok"]}
    out = [
        {"name": f"{PREFIX}: {len(report['seeds'])} seed(s), world build + run + study",
         "value": total, "unit": "s", "n": len(ok), "baseline": 30 * 60 * max(1, len(ok)),
         "ratio": total / (30 * 60 * max(1, len(ok))),
         "parts": [r["seconds"] for r in ok], **common},
    ]
    if v.get("estimate") is not None:
        out.append({
            "name": f"{PREFIX}: slope of held-out AP on log2(k)", "value": v["estimate"],
            "unit": "AP per doubling", "n": sum(len(r["rows"]) for r in ok), "baseline": 0.0,
            "ratio": None, "ci_low": v["ci_low"], "ci_high": v["ci_high"],
            "baseline_margin": report["baseline"], **common})
    return out  # fmt: skip


def merge(new: list[dict], path: Path = RESULTS) -> None:
    """Replace the science entries in the results file (creating it if needed)."""
    doc = json.loads(path.read_text()) if path.is_file() else {"results": []}
    kept = [r for r in doc.get("results", []) if not str(r.get("name", "")).startswith(PREFIX)]
    doc["results"] = kept + new
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")


def kept_entries(path: Path = RESULTS) -> list[dict]:
    """Science entries already recorded (for `make bench` to carry over)."""
    if not path.is_file():
        return []
    doc = json.loads(path.read_text())
    return [r for r in doc.get("results", []) if str(r.get("name", "")).startswith(PREFIX)]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m benchmarks.science REPORT_JSON", file=sys.stderr)
        return 2
    report = json.loads(Path(argv[0]).read_text())
    merge(entries(report))
    print(f"recorded the science run (seeds {report['seeds']}) in {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
