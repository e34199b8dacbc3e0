"""Record a `make science` run in `benchmarks/results.json` (it is a benchmark, not a test).

`make bench` does not rerun the science (about half an hour); it keeps these entries when it
rewrites the file, so the latest science figures stay beside the other measurements.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")
PREFIX = "science"


def entries(report: dict) -> list[dict]:
    """The benchmark entries of one science report (value = seconds; AP figures alongside)."""
    f = report["finding"]
    curve = f["curve"]
    first, last = curve[0], curve[-1]
    secs = report["seconds"]
    common = {"study_id": report["study_id"], "holds": f["holds"], "failures": f["failures"]}
    return [
        {"name": f"{PREFIX}: world build + run + scaling study", "value": secs["total"],
         "unit": "s", "baseline": 30 * 60, "ratio": secs["total"] / (30 * 60),
         "parts": secs, **common},
        {"name": f"{PREFIX}: held-out AP at k=1 vs k={last['n_train_models']}",
         "value": last["ap_mean"], "unit": "AP", "baseline": first["ap_mean"],
         "ratio": (last["ap_mean"] / first["ap_mean"]) if first["ap_mean"] else None,
         "spread": {"k1_std": first["ap_std"], "kmax_std": last["ap_std"]},
         "curve": curve, "leave_one_family_out": f["lofo"], **common},
    ]  # fmt: skip


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
    print(f"recorded science run {report['study_id']} in {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
