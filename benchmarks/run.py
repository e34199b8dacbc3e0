"""`make bench`: real measurements of the platform's hot paths on this machine.

Prints a table and writes `benchmarks/results.json`. Targets live here, never in tests.
Entries from `ratios.py` carry the same work done the plain way in the same run
(`baseline`) and `ratio` = value / baseline.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    """Median wall seconds over `repeat` calls, and the last result."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench_zoo(root: Path) -> list[dict]:
    from fakeimg_assets.testbed.zoo.build import build_zoo

    secs, models = timed(lambda: build_zoo(root))
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return [
        {"name": "zoo build (all repos)", "value": secs, "unit": "s", "n": len(models)},
        {"name": "zoo size", "value": size / 2**20, "unit": "MiB", "n": len(models)},
    ]


def bench_hub(url: str, cache: Path) -> list[dict]:
    from resources import HubResource

    hub = HubResource(endpoint=url, cache_dir=str(cache))
    list_s, rows = timed(lambda: list(hub.list_text_to_image_models()), repeat=5)
    info_s, _ = timed(lambda: hub.model_info(rows[0]["model_id"]), repeat=20)
    return [
        {"name": "hub list_models (all)", "value": list_s * 1000, "unit": "ms", "n": len(rows)},
        {"name": "hub model_info (files_metadata)", "value": info_s * 1000, "unit": "ms", "n": 1},
    ]


def bench_sampling(url: str, cache: Path) -> list[dict]:
    import torch

    from fakeimg_assets.sampling.fetch import prepare
    from fakeimg_assets.sampling.load import load_pipeline
    from fakeimg_assets.sampling.remote_plan import fetch_plan
    from fakeimg_assets.sampling.sample import image_requests, sample_images
    from fakeimg_assets.sampling.types import SamplingParams
    from fakeimg_assets.testbed.zoo.models import zoo_models
    from resources import HubResource

    hub = HubResource(endpoint=url, cache_dir=str(cache))
    out = []
    seen = set()
    prompts = [(f"p{i}", f"a photo of thing {i}") for i in range(16)]
    for m in zoo_models():
        if m.expect != "ok" or m.architecture in seen:
            continue
        seen.add(m.architecture)
        remote = fetch_plan(hub, m.model_id)
        dl_s, prepared = timed(
            lambda remote=remote, m=m: prepare(
                m.model_id, remote.revision, remote.plan, hub.download
            )
        )
        load_s, pipe = timed(
            lambda prepared=prepared: load_pipeline(
                prepared, device="cpu", dtype=torch.float32
            )
        )
        params = SamplingParams(n_images=16, steps=10, batch_size=4)
        requests = image_requests(m.model_id, 16, prompts)
        run_s, _ = timed(
            lambda pipe=pipe, prepared=prepared, requests=requests, params=params: sample_images(
                pipe, prepared, requests, params, device="cpu", dtype=torch.float32
            )
        )
        out += [
            {"name": f"{m.architecture}: download+plan", "value": dl_s * 1000, "unit": "ms", "n": 1},
            {"name": f"{m.architecture}: load pipeline", "value": load_s * 1000, "unit": "ms", "n": 1},
            {"name": f"{m.architecture}: sample 64px 10 steps", "value": 16 / run_s,
             "unit": "img/s", "n": 16},
        ]
    return out


def bench_detector(tmp: Path) -> list[dict]:
    from fakeimg_assets.detection.synthetic import make_synthetic_dataset
    from fakeimg_assets.detection.train import TrainConfig, predict, train_detector

    samples = make_synthetic_dataset(tmp / "synth", n_real=250, n_fake=250, size=64, seed=0)
    cfg = TrainConfig(backbone="tiny-resnet", epochs=1, seed=0)
    train_s, res = timed(lambda: train_detector(samples, tmp / "ckpt", cfg))
    paths = [p for p, _ in samples]
    pred_s, _ = timed(lambda: predict(res.checkpoint_dir, paths))
    return [
        {"name": "tiny-resnet train 64px", "value": len(samples) / train_s, "unit": "img/s",
         "n": len(samples)},
        {"name": "tiny-resnet predict 64px", "value": len(paths) / pred_s, "unit": "img/s",
         "n": len(paths)},
    ]


def bench_warehouse(tmp: Path) -> list[dict]:
    from fakeimg_assets.lib.times import utcnow
    from fakeimg_assets.warehouse.store import Warehouse

    wh = Warehouse(tmp / "wh")
    rows = [
        {"image_id": f"fake:o/m:{i:05d}", "label": "fake", "source": "o/m", "path": "x",
         "sha256": "0" * 64, "width": 64, "height": 64, "created_at": utcnow()}
        for i in range(64)
    ]
    write_s, _ = timed(
        lambda: [wh.write("fake_images", f"fake--o--m{i}", rows) for i in range(200)]
    )
    query_s, _ = timed(lambda: wh.query("SELECT source, count(*) FROM images GROUP BY 1"), 5)
    return [
        {"name": "warehouse write partition (64 rows)", "value": write_s / 200 * 1000,
         "unit": "ms", "n": 200},
        {"name": "warehouse query over 200 partitions", "value": query_s * 1000, "unit": "ms",
         "n": 200 * 64},
    ]


def main() -> int:
    from fakeimg_assets.testbed.local_hub.server import HubServer

    results: list[dict] = []
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmpdir:
        tmp = Path(tmpdir)
        results += bench_zoo(tmp / "zoo")
        with HubServer(tmp / "zoo") as server:
            results += bench_hub(server.url, tmp / "cache")
            results += bench_sampling(server.url, tmp / "cache")
        results += bench_detector(tmp)
        results += bench_warehouse(tmp)
        from benchmarks.ratios import PARTS, run_parts

        results += run_parts(list(PARTS), tmp)  # each against its baseline (ratios.py)
        from benchmarks.collection_ingest import bench_collection_ingest

        results += bench_collection_ingest(tmp)  # about 1 min on 2 cores
        from benchmarks.backfill import bench_backfill
        from benchmarks.freshness import bench_freshness
        from benchmarks.sensor_tick import bench_sensor_tick

        results += bench_sensor_tick(tmp)
        results += bench_backfill(tmp)  # about 12 min on 2 cores
        results += bench_freshness(tmp)  # about 10 min
    width = max(len(r["name"]) for r in results)
    print(f"{'benchmark'.ljust(width)}  {'value':>10}  {'baseline':>10}  {'ratio':>6}  unit")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 10}  {'-' * 6}  -----")
    for r in results:
        base = r.get("baseline")
        ratio = r.get("ratio")
        print(f"{r['name'].ljust(width)}  {r['value']:>10.3g}  "
              f"{(f'{base:.3g}' if isinstance(base, int | float) else '-'):>10}  "
              f"{(f'{ratio:.2f}' if isinstance(ratio, int | float) else '-'):>6}  {r['unit']}")
    from benchmarks.science import kept_entries

    results += kept_entries(RESULTS)  # the latest `make science` run, not rerun here
    RESULTS.write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version()},
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "results": results,
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
