"""Benchmark: how long from a model's publication on the Hub to its place in an evaluation.

The demo zoo on the local Hub: 8 SD1/SDXL/SD3/PixArt repos are public from the start and
sampled, split, trained and evaluated by one `fakeimg run`; 8 more (one more of each of
those families, and Sana, Lumina2, HunyuanDiT and AuraFlow repos) are published one by one
every `every_s` seconds (`.hub.json` `publish_at`: before it a repo does not exist for any
client). `dagster-daemon` runs the product's sensors and automation with benchmark
intervals (`benchmarks/freshness_defs.py`: 5 s ticks, a crawl every 10 s, retraining every
2 new models), all started with `dagster sensor start --start-all` as a user would.
Per published model: publish -> partition (polled each second) -> sampled (the
sampled_images materialization) -> evaluated (the first detector_evaluation whose split
holds the model). The product's promise is 24 h on the real Hub (its sensors tick hourly).

`make bench` runs it; alone: `python -m benchmarks.freshness [EVERY_S]` (also recorded).
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FAMILIES = ("sd1", "sdxl", "sd3", "pixart")
OTHERS = ("sana", "lumina2", "hunyuandit", "auraflow")  # published as new families
PROMISE_S = 24 * 3600.0
WORKSPACE = """\
load_from:
  - python_module:
      module_name: benchmarks.freshness_defs
      attribute: defs
      working_directory: {root}
      location_name: fakeimg
"""


def pick_models(n_other: int = 4) -> tuple[list[str], list[str]]:
    """(public from the start, published during the run): the older two thirds of the
    plain SD1/SDXL/SD3/PixArt pipelines start public (8); published later are the newest of
    each of those families and `n_other` repos of other architectures (new families)."""
    from fakeimg_assets.testbed.zoo.models import zoo_models

    plain = [m for m in zoo_models() if m.expect == "ok"
             and "lora" not in m.model_id and "single-file" not in m.model_id]
    initial, later = [], []
    for family in FAMILIES:
        ms = sorted((m for m in plain if m.architecture == family), key=lambda m: m.created_at)
        half = (len(ms) + 1) // 2
        initial += [m.model_id for m in ms[:half]]
        later += [m.model_id for m in ms[half:]]
    others = sorted((m for m in plain if m.architecture in OTHERS), key=lambda m: m.model_id)
    return initial, later + [m.model_id for m in others[:n_other]]


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    xs = sorted(values)
    if not xs:
        raise ValueError("no values")
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _evaluated_at(instance, warehouse, models: list[str]) -> dict[str, float]:  # noqa: ANN001
    """Each model's first detector_evaluation (timestamp) whose split holds it."""
    import dagster as dg

    out: dict[str, float] = {}
    records = instance.fetch_materializations(dg.AssetKey("detector_evaluation"), limit=1000)
    for rec in sorted(records.records, key=lambda r: r.timestamp):
        split = rec.asset_materialization.metadata.get("split_id")
        if split is None:
            continue
        rows = warehouse.query(
            "SELECT DISTINCT source FROM detector_splits WHERE split_id = ? AND label = 'fake'",
            params=[split.value],
        )
        for source in set(rows["source"].to_list()) & set(models):
            out.setdefault(source, rec.timestamp)
    return out


def _sampled_at(instance, models: list[str]) -> dict[str, float]:  # noqa: ANN001
    import dagster as dg

    out = {}
    for m in models:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("sampled_images"), asset_partitions=[m]),
            limit=1,
        ).records
        if records:
            out[m] = records[0].timestamp
    return out


def bench_freshness(tmp: Path, every_s: float = 20.0, timeout_s: float = 1800) -> list[dict]:
    from benchmarks.backfill import stop
    from fakeimg_assets.sampling.worker_client import stop_worker
    from fakeimg_assets.testbed.local_hub.publishing import schedule_publication
    from fakeimg_assets.testbed.local_hub.server import HubServer
    from fakeimg_assets.testbed.zoo.models import zoo_models

    zoo, home = tmp / "fresh-zoo", tmp / "fresh-home"
    dagster_home = home / "dagster"
    subprocess.run([str(BIN / "fakeimg"), "zoo", "build", str(zoo)], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=timeout_s)
    initial, later = pick_models()
    never = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)  # every other repo stays unpublished
    schedule_publication(zoo, {m.model_id: never for m in zoo_models() if m.model_id not in initial})
    workspace = tmp / "freshness-workspace.yaml"
    workspace.write_text(WORKSPACE.format(root=ROOT))
    log_path = tmp / "freshness-daemon.log"
    with HubServer(zoo) as server:
        env = {**os.environ, "HF_ENDPOINT": server.url, "HF_TOKEN": "",
               "FAKEIMG_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
        subprocess.run(  # the starting state: the initial models sampled, trained, evaluated
            [str(BIN / "fakeimg"), "run", "--real-dataset", "fakeimg/demo-photos", "--no-scaling",
             "--family-max-runs", "1", "--epochs", "1"],
            env=env, cwd=ROOT, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            timeout=timeout_s,
        )
        with log_path.open("w") as log:
            daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
                                      env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
            try:
                subprocess.run([str(BIN / "dagster"), "sensor", "start", "--start-all",
                                "-w", str(workspace)], env=env, cwd=ROOT, check=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=300)
                start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
                published = {m: start + dt.timedelta(seconds=i * every_s)
                             for i, m in enumerate(later)}
                schedule_publication(zoo, published)
                result = _watch(dagster_home, home, published, every_s, timeout_s, daemon,
                                log_path)
            finally:
                stop(daemon)
                stop_worker(home)  # the runs' warm sampling worker (sampling/worker.py)
    return result


def _watch(dagster_home: Path, home: Path, published: dict, every_s: float, timeout_s: float,
           daemon: subprocess.Popen, log_path: Path) -> list[dict]:
    import dagster as dg

    from resources import WarehouseResource

    models = list(published)
    warehouse = WarehouseResource(home=str(home))
    partition_at: dict[str, float] = {}
    deadline = time.time() + timeout_s
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        evaluated: dict[str, float] = {}
        tick = 0
        while len(evaluated) < len(models):
            if time.time() > deadline or daemon.poll() is not None:
                raise RuntimeError(f"{len(evaluated)}/{len(models)} models evaluated before "
                                   f"the timeout (daemon rc {daemon.poll()}); see {log_path}")
            now = time.time()
            for m in set(instance.get_dynamic_partitions("hub_models")) & set(models):
                partition_at.setdefault(m, now)
            if tick % 5 == 0:
                evaluated = _evaluated_at(instance, warehouse, models)
            tick += 1
            time.sleep(1)
        sampled = _sampled_at(instance, models)
    rows = []
    for m in models:
        pub = published[m].timestamp()
        rows.append({"model_id": m, "partition_s": partition_at[m] - pub,
                     "sampled_s": sampled[m] - pub, "evaluated_s": evaluated[m] - pub})
    total = [r["evaluated_s"] for r in rows]
    p50, p95 = percentile(total, 50), percentile(total, 95)
    stage = {k: round(statistics.median(r[k] for r in rows), 1)
             for k in ("partition_s", "sampled_s", "evaluated_s")}
    return [{
        "name": f"freshness: publish -> evaluated ({len(models)} models published "
                f"{every_s:g} s apart, local Hub, 5 s sensors, retrain every 2 or after 30 s)",
        "value": p50, "unit": "s", "p50": p50, "p95": p95, "baseline": PROMISE_S,
        "ratio": p95 / PROMISE_S, "n": len(models), "median_by_stage": stage, "models": rows,
    }]


def main(argv: list[str]) -> int:
    from benchmarks.sensor_tick import record

    every_s = float(argv[0]) if argv else 20.0
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmpdir:
        entries = bench_freshness(Path(tmpdir), every_s)
    for r in entries:
        print(f"{r['name']}: p50 {r['p50']:.1f} s, p95 {r['p95']:.1f} s; "
              f"median by stage {r['median_by_stage']}")
        for row in r["models"]:
            print("  " + "  ".join(f"{k} {v:.1f}" if isinstance(v, float) else str(v)
                                   for k, v in row.items()))
    record(entries)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
