"""Benchmark: `fakeimg collection add` of a 10,000-image folder (issue 19's closing note).

A folder of 10 generator sub-folders x 1,000 PNGs of 64x64 (smooth colour images, a few KB
each, like small generated images) is staged with `stage_collection` (decode in full, sha256,
store the original bytes, manifest) into a fresh home, with one worker and with the default
pool. The baseline is the plain way of doing the same file work: `shutil.copy` of every file
into a fresh folder of the same tree, on the same disk. Runs alternate, median of `REPEAT`.

`make bench` runs it; alone: `python -m benchmarks.collection_ingest [N]` (also recorded).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

N_GENERATORS = 10
REPEAT = 3


def make_folder(root: Path, n: int, size: int = 64) -> Path:
    """`n` distinct smooth colour PNGs spread over `N_GENERATORS` generator folders."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"gen-{i % N_GENERATORS:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        grid = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
        Image.fromarray(grid).resize((size, size), Image.Resampling.BILINEAR).save(
            folder / f"{i:05d}.png")
    return root


def copy_all(src: Path, dst: Path) -> int:
    """The baseline: copy every file of the tree (what any ingestion must at least do)."""
    n = 0
    for sub in sorted(src.iterdir()):
        (dst / sub.name).mkdir(parents=True)
        for f in sorted(sub.iterdir()):
            shutil.copy(f, dst / sub.name / f.name)
            n += 1
    return n


def bench_collection_ingest(tmp: Path, n: int = 10_000) -> list[dict]:
    from fakeimg_assets.collections.stage import default_workers, stage_collection

    src = make_folder(tmp / "collection-src", n)
    pool = default_workers()
    times: dict[str, list[float]] = {"copy": [], "w1": [], "pool": []}
    for attempt in range(REPEAT):
        for key, workers in (("copy", 0), ("w1", 1), ("pool", pool)):
            out = tmp / f"ingest-{key}-{attempt}"
            t0 = time.perf_counter()
            if workers:
                c = stage_collection(out, src, name="bench", workers=workers, log=lambda _: None)
                assert sum(g.n_images for g in c.generators) == n, "images lost"
            else:
                assert copy_all(src, out) == n
            times[key].append(time.perf_counter() - t0)
            shutil.rmtree(out)
    copy_s = statistics.median(times["copy"])
    entries = []
    for key, label in (("w1", "1 worker"), ("pool", f"{pool} workers")):
        secs = statistics.median(times[key])
        entries.append({
            "name": f"collection add: {n:,} PNG 64px in {N_GENERATORS} generators ({label})",
            "value": n / secs, "unit": "img/s", "n": n, "baseline": n / copy_s,
            "ratio": (n / secs) / (n / copy_s), "seconds": secs, "baseline_seconds": copy_s,
            "baseline_name": "shutil.copy of every file", "runs_s": times[key],
            "baseline_runs_s": times["copy"],
        })
    return entries


def main(argv: list[str]) -> int:
    from benchmarks.sensor_tick import RESULTS, record

    n = int(argv[0]) if argv else 10_000
    with tempfile.TemporaryDirectory() as tmpdir:
        entries = bench_collection_ingest(Path(tmpdir), n)
    for r in entries:
        print(f"{r['name']}: {r['value']:.0f} img/s ({r['seconds']:.2f} s) vs copy "
              f"{r['baseline']:.0f} files/s ({r['baseline_seconds']:.2f} s), ratio "
              f"{r['ratio']:.2f}")
    record(entries)
    print(f"recorded in {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
