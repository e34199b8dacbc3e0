"""Benchmarks measured against a baseline in the same run: is a path good, not just fast?

Each entry is {name, value, unit, n, baseline, ratio}: `baseline` is the same work done the
plain way a user would write it, in the same process and minutes, and `ratio` is
value / baseline in the entry's unit (for a rate, above 1 means the platform is faster;
for a time, below 1 means it is faster; `better` says which). Latencies with a spread add
p50/p95. Where both ways were measured more than once, `ratio_ci_low`/`ratio_ci_high` give
a 95% bootstrap interval of the ratio (`ratio_interval`), so a ratio near a target reads as
above, below or not told apart from it. Nothing here asserts a target: targets are read
off the table.

- sampler vs the naive `pipe(prompt)` loop, per architecture of the zoo (one image per
  call, the same steps, guidance, size and seeds, each image PNG-encoded);
- quality stats vs decode-only reading of the same PNGs;
- code-location load vs bare `import dagster` (fresh interpreters);
- detector data loading vs a plain torchvision DataLoader over the same files;
- warehouse queries at research scale vs a native DuckDB table of the same rows
  (`bench_warehouse_scale`, 5,000 partitions x 600 rows by default).

`python -m benchmarks.ratios [PART ...]` runs some parts alone and records their entries
in `benchmarks/results.json` (replacing entries of the same name); `make bench` runs all.
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).with_name("results.json")
ROOT = Path(__file__).resolve().parents[1]


CI_LEVEL = 0.95
CI_RESAMPLES = 4000


def ratio_interval(values: list[float], baselines: list[float], *, seed: int = 0,
                   level: float = CI_LEVEL, resamples: int = CI_RESAMPLES) -> tuple[float, float]:
    """A percentile-bootstrap interval of median(values) / median(baselines): each side's
    runs resampled with replacement, independently (the two ways ran one after the other,
    not in pairs), with a fixed seed so a rerun on the same numbers gives the same
    interval. Needs at least 2 runs a side."""
    v = np.asarray(values, dtype=float)
    b = np.asarray(baselines, dtype=float)
    if v.size < 2 or b.size < 2:
        raise ValueError(f"an interval needs at least 2 runs a side, got {v.size} and {b.size}")
    if not (np.all(np.isfinite(v)) and np.all(np.isfinite(b)) and np.all(b > 0)):
        raise ValueError("runs must be finite and the baseline's above 0")
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // max(v.size, b.size))  # resamples at a time: bounded memory
    ratios = np.concatenate([
        np.median(v[rng.integers(0, v.size, (k, v.size))], axis=1)
        / np.median(b[rng.integers(0, b.size, (k, b.size))], axis=1)
        for k in (min(chunk, resamples - start) for start in range(0, resamples, chunk))])
    tail = (1 - level) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return float(low), float(high)


def ratio_entry(name: str, value: float, baseline: float, unit: str, n: int, *,
                better: str, runs: tuple[list[float], list[float]] | None = None,
                **extra: object) -> dict:
    """One result with its baseline; `better` is 'higher' (a rate) or 'lower' (a time).

    `runs`: each way's measurements in the entry's unit (value's runs, baseline's runs),
    whose medians are `value` and `baseline`; with at least 2 a side the entry gets the
    ratio's 95% interval and the number of runs.
    """
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', got {better!r}")
    entry = {"name": name, "value": value, "unit": unit, "n": n, "baseline": baseline,
             "ratio": value / baseline if baseline else None, "better": better}
    if runs is not None and baseline and min(len(runs[0]), len(runs[1])) >= 2:
        low, high = ratio_interval(*runs)
        entry.update(ratio_ci_low=low, ratio_ci_high=high, runs=[len(runs[0]), len(runs[1])])
    return {**entry, **extra}


def runs_entry(name: str, ours: list[float], base: list[float], unit: str, n: int, *,
               better: str, **extra: object) -> dict:
    """`ratio_entry` from each way's runs (in `unit`): value and baseline are their medians."""
    return ratio_entry(name, statistics.median(ours), statistics.median(base), unit, n,
                       better=better, runs=(ours, base), **extra)


def _median_seconds(fn: Callable[[], object], repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def _pcts(times: list[float]) -> dict:
    ms = sorted(t * 1000 for t in times)
    return {"p50": statistics.median(ms), "p95": ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]}


# -- sampler vs a user's loop ---------------------------------------------------------------

def bench_sampler_vs_naive(url: str, cache: Path, n_images: int = 8, steps: int = 10,
                           batch_size: int = 4, rounds: int = 5) -> list[dict]:
    """Per architecture: images/s of `sample_images` (batches, per-image seeded generators)
    against `pipe(prompt)` one image at a time with the same settings, `rounds` times each
    way, alternating (so a slow minute of the machine falls on both)."""
    import torch

    from fakeimg_assets.sampling.fetch import prepare
    from fakeimg_assets.sampling.load import load_pipeline
    from fakeimg_assets.sampling.remote_plan import fetch_plan
    from fakeimg_assets.sampling.sample import image_requests, sample_images
    from fakeimg_assets.sampling.types import SamplingParams
    from fakeimg_assets.testbed.zoo.models import zoo_models
    from resources import HubResource

    hub = HubResource(endpoint=url, cache_dir=str(cache))
    prompts = [(f"p{i}", f"a photo of thing {i}") for i in range(n_images)]
    out, seen = [], set()
    for m in zoo_models():
        if m.expect != "ok" or m.architecture in seen:
            continue
        seen.add(m.architecture)
        remote = fetch_plan(hub, m.model_id)
        prepared = prepare(m.model_id, remote.revision, remote.plan, hub.download)
        pipe = load_pipeline(prepared, device="cpu", dtype=torch.float32)
        params = SamplingParams(n_images=n_images, steps=steps, batch_size=batch_size)
        requests = image_requests(m.model_id, n_images, prompts)
        sample_images(pipe, prepared, requests[:1], params, device="cpu", dtype=torch.float32)
        run = sample_images(pipe, prepared, requests, params, device="cpu", dtype=torch.float32)
        recipe = prepared.recipe
        call = dict(recipe.call_kwargs)
        call[recipe.call_names.get("num_inference_steps", "num_inference_steps")] = run.steps
        call[recipe.call_names.get("guidance_scale", "guidance_scale")] = run.guidance_scale
        size = run.images[0]
        call.update(height=size.height, width=size.width)
        name = (f"sampler vs pipe(prompt) loop: {m.architecture} ({size.width}px, "
                f"{run.steps} steps, batch {run.batch_size})")

        def platform(pipe=pipe, prepared=prepared, requests=requests, params=params) -> None:
            sample_images(pipe, prepared, requests, params, device="cpu", dtype=torch.float32)

        def naive(pipe=pipe, requests=requests, call=call) -> None:
            for r in requests:  # what a user writes: one prompt per call, save each image
                with torch.inference_mode():
                    image = pipe(prompt=r.prompt, generator=torch.Generator().manual_seed(
                        r.seed), **call).images[0]
                image.save(io.BytesIO(), format="PNG")

        ours_rates, naive_rates, error = [], [], None
        for _ in range(rounds):
            ours_rates.append(n_images / _median_seconds(platform, 1)[0])
            try:
                naive_rates.append(n_images / _median_seconds(naive, 1)[0])
            except Exception as exc:  # noqa: BLE001 - the user's loop failing is the finding
                error = f"{type(exc).__name__}: {exc}"[:300]
                break
        del pipe, platform, naive
        if error is not None:
            out.append({"name": name, "value": statistics.median(ours_rates), "unit": "img/s",
                        "n": n_images, "baseline": None, "ratio": None, "better": "higher",
                        "baseline_error": error})
            continue
        out.append(runs_entry(name, ours_rates, naive_rates, "img/s", n_images,
                              better="higher"))
    return out


# -- quality stats vs decode ----------------------------------------------------------------

def _pngs(folder: Path, n: int, size: int = 64) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = folder / f"{i:05d}.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def bench_quality_vs_decode(tmp: Path, n: int = 2000, rounds: int = 5) -> list[dict]:
    """The `image_quality_stats` work per image (sha256 check, decode, every measure)
    against decoding the same PNGs to arrays and nothing else."""
    from PIL import Image

    from fakeimg_assets.lib.paths import sha256_file
    from fakeimg_assets.quality.stats import image_measures

    paths = _pngs(tmp / "quality-pngs", n)

    def decode() -> None:
        for p in paths:
            with Image.open(p) as im:
                np.asarray(im.convert("RGB"))

    def stats() -> None:
        for p in paths:
            sha256_file(p)
            with Image.open(p) as im:
                image_measures(np.asarray(im.convert("RGB")))

    decode()  # warm the page cache for both
    base = [n / t for t in _median_seconds(decode, rounds)[1]]
    ours = [n / t for t in _median_seconds(stats, rounds)[1]]
    return [runs_entry(f"quality stats vs decode-only ({n} PNG 64px)", ours, base, "img/s",
                       n, better="higher")]


# -- code location load vs import dagster -----------------------------------------------

def _fresh_seconds(code: str, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, check=True, timeout=300)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return times


def bench_code_location_load(repeat: int = 5) -> list[dict]:
    """Seconds to import the code location and build its Definitions in a fresh interpreter,
    against a fresh `import dagster` (what any Dagster code location pays)."""
    timer = "import time; t = time.perf_counter(); {body}; print(time.perf_counter() - t)"
    bare = _fresh_seconds(timer.format(body="import dagster"), repeat)
    load = _fresh_seconds(timer.format(
        body="import fakeimg_assets.definitions as d; d.defs.get_repository_def()"), repeat)
    return [runs_entry("code location load vs import dagster", load, bare, "s", repeat,
                       better="lower", **_pcts(load))]


# -- detector data loading vs a plain DataLoader ---------------------------------------------

def bench_detector_loading(tmp: Path, n: int = 1024, image_size: int = 32,
                           rounds: int = 5) -> list[dict]:
    """Images/s through the platform's training `ImageDataset` (the CF augmentations of
    `tiny-resnet` off, as `world-resnet` trains) and a plain torchvision
    `Resize + ToTensor + Normalize` dataset over the same PNGs, both in a DataLoader with
    batch 64 and no workers."""
    import torch
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    from fakeimg_assets.detection.augment import IMAGENET_MEAN, IMAGENET_STD
    from fakeimg_assets.detection.data import ImageDataset

    paths = _pngs(tmp / "loader-pngs", n)
    ours = ImageDataset(paths, [i % 2 for i in range(n)], image_size, train=True,
                        resize_size=image_size, count_range=(0, 0), seed=0)
    tf = transforms.Compose([transforms.Resize(image_size), transforms.ToTensor(),
                             transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])

    class Plain(Dataset):
        def __len__(self) -> int:
            return n

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            with Image.open(paths[i]) as im:
                return tf(im.convert("RGB")), i % 2

    def drain(ds: Dataset) -> None:
        for _ in DataLoader(ds, batch_size=64, shuffle=False, num_workers=0):
            pass

    drain(Plain())
    base = [n / t for t in _median_seconds(lambda: drain(Plain()), rounds)[1]]
    mine = [n / t for t in _median_seconds(lambda: drain(ours), rounds)[1]]
    return [runs_entry(f"detector data loading vs plain DataLoader ({n} PNG -> "
                       f"{image_size}px)", mine, base, "img/s", n, better="higher")]


# -- the warehouse at research scale vs native tables ---------------------------------------

WAREHOUSE_QUERIES = {
    "count": "SELECT count(*) FROM images",
    "format shortcut (queries.md 5)": (
        "SELECT label, format, width, height, count(*) AS images, round(avg(file_bytes)) "
        "AS avg_bytes FROM images GROUP BY ALL ORDER BY label"),
    "one model's images (queries.md 6)": (
        "SELECT image_index, seed, steps, scheduler, batch_size, left(prompt, 30) AS prompt "
        "FROM images WHERE source = 'org07/model-00407' ORDER BY image_index LIMIT 3"),
    "per source": "SELECT source, count(*) AS n FROM images GROUP BY 1 ORDER BY 2 DESC LIMIT 5",
}
PER_MODEL_QUERIES = {  # the documented queries on the per-model relations: a row per partition
    "sampled per architecture (queries.md 1)": (
        "SELECT m.architecture, count(*) AS models, sum(s.n_images) AS images, count(*) FILTER "
        "(WHERE s.quarantined) AS quarantined FROM model_stats s JOIN model_metadata m "
        "USING (model_id) GROUP BY ALL ORDER BY architecture"),
    "minimal downloads (queries.md 2)": (
        "SELECT model_id, repo_bytes, downloaded_bytes, round(downloaded_bytes / repo_bytes, 2) "
        "AS fraction FROM model_metadata ORDER BY fraction LIMIT 5"),
}
PER_MODEL = ("model_stats", "model_metadata")  # relations WAREHOUSE_QUERIES reads beside images


def _per_model_rows(i: int, per: int) -> dict[str, list[dict]]:
    src = f"org{i % 100:02d}/model-{i:05d}"
    return {"model_stats": [{"model_id": src, "n_images": per, "quarantined": i % 97 == 0}],
            "model_metadata": [{"model_id": src, "architecture": f"arch{i % 21:02d}",
                                "repo_bytes": 10_000_000 + i, "downloaded_bytes": 3_000_000 + i}]}


def _image_rows(i: int, per: int) -> list[dict]:
    import datetime as dt

    src = f"org{i % 100:02d}/model-{i:05d}"
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return [{"image_id": f"fake:{src}:{k:04d}", "label": "fake", "source": src,
             "path": f"images/fake/{src.replace('/', '--')}/v1/{k:04d}.png",
             "sha256": f"{i:032x}{k:032x}", "width": 64, "height": 64, "format": "PNG",
             "file_bytes": 8000 + (i * 7 + k) % 900, "image_index": k, "seed": i * 1000 + k,
             "steps": 10, "scheduler": "EulerDiscreteScheduler", "batch_size": 4,
             "prompt": f"a photo of thing {k % 31}", "created_at": when}
            for k in range(per)]


def bench_warehouse_scale(tmp: Path, partitions: int = 5000, per: int = 600,
                          repeat: int = 3) -> list[dict]:
    """`partitions` x `per` image rows written through `Warehouse.write` (one file per
    partition, as the platform writes them); each documented query through the user's
    `warehouse.duckdb` views and through fakeimg's own reader (`Warehouse.query`), against
    the same rows as a native DuckDB table."""
    import duckdb
    import polars as pl

    from fakeimg_assets.warehouse.store import Warehouse

    wh = Warehouse(tmp / "wh-scale")
    plain = tmp / "plain-parquet"  # the write's baseline: the same frame, polars' own write
    plain.mkdir()
    t0 = time.perf_counter()
    write_times, plain_times = [], []
    for i in range(partitions):
        frame = pl.DataFrame(_image_rows(i, per))
        key = f"fake--org{i % 100:02d}--model-{i:05d}"
        t = time.perf_counter()
        wh.write("fake_images", key, frame)
        write_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        frame.write_parquet(plain / f"{key}.parquet")
        plain_times.append(time.perf_counter() - t)
        for relation, rows in _per_model_rows(i, per).items():
            wh.write(relation, key, rows)
    total_write = time.perf_counter() - t0
    wh.ensure_views(force=True)
    native = tmp / "native.duckdb"
    con = duckdb.connect(str(native))
    con.execute(f"ATTACH '{wh.database_path}' AS wh (READ_ONLY)")
    t0 = time.perf_counter()
    con.execute("CREATE TABLE images AS SELECT * FROM wh.images")
    native_load_s = time.perf_counter() - t0
    for relation in PER_MODEL:
        con.execute(f"CREATE TABLE {relation} AS SELECT * FROM wh.{relation}")
    con.execute("DETACH wh")
    rows = con.execute("SELECT count(*) FROM images").fetchone()[0]
    # fakeimg's write checks the rows against the relation's schema, writes a temp name,
    # fsyncs and renames it into place (a reader never sees half a file); polars' plain
    # `write_parquet` of the same frame does none of it
    out = [runs_entry(f"warehouse write one partition vs polars write_parquet ({per} rows, "
                      f"{partitions:,} files)", [t * 1000 for t in write_times],
                      [t * 1000 for t in plain_times], "ms", partitions, better="lower",
                      **_pcts(write_times), total_s=total_write)]
    out += _query_entries(wh, con, WAREHOUSE_QUERIES, f"{rows:,} rows", rows, repeat,
                          "loose files")
    out += _query_entries(wh, con, PER_MODEL_QUERIES, f"{partitions:,} models", partitions,
                          repeat, "loose files")
    # the compaction `fakeimg run` and the sensor do after a batch, against loading the same
    # files into a native table (both read every file and write the rows once)
    from fakeimg_assets.warehouse.compaction import compact_relation

    t0 = time.perf_counter()
    result = compact_relation(wh.home, "fake_images")
    compact_s = time.perf_counter() - t0
    if result.rows != rows or result.retired != partitions:
        raise RuntimeError(f"compaction folded {result}, expected {rows} rows")
    for relation in PER_MODEL:
        if compact_relation(wh.home, relation).rows != partitions:
            raise RuntimeError(f"compaction of {relation} lost rows")
    wh.ensure_views()
    out.append(ratio_entry(f"warehouse compaction vs native table load ({partitions:,} files, "
                           f"{rows:,} rows)", compact_s, native_load_s, "s", rows,
                           better="lower"))
    for queries, size, n in ((WAREHOUSE_QUERIES, f"{rows:,} rows", rows),
                             (PER_MODEL_QUERIES, f"{partitions:,} models", partitions)):
        out += _query_entries(wh, con, queries, size, n, 3 * repeat, "compacted")  # ms: more
    con.close()
    return out


def _query_entries(wh, con, queries: dict[str, str], size: str, n: int, repeat: int,  # noqa: ANN001
                   layout: str) -> list[dict]:
    """Each of `queries` through the user's `warehouse.duckdb` and `Warehouse.query`,
    against the native tables `con` holds (`n` rows, `size` in words)."""
    import duckdb

    out = []
    user = duckdb.connect(str(wh.database_path), read_only=True)
    for label, sql in queries.items():
        # each way back to back, warm: interleaving them evicted the native table's pages
        # from the CPU caches and doubled its times, a flattering baseline
        _, base_times = _median_seconds(lambda sql=sql: con.execute(sql).fetchall(), repeat)
        _, times = _median_seconds(lambda sql=sql: user.execute(sql).fetchall(), repeat)
        _, own_times = _median_seconds(lambda sql=sql: wh.query(sql), repeat)
        out.append(runs_entry(f"warehouse.duckdb query vs native table, {layout}: {label} "
                              f"({size})", times, base_times, "s", n, better="lower",
                              **_pcts(times)))
        out.append(runs_entry(f"Warehouse.query vs native table, {layout}: {label} "
                              f"({size})", own_times, base_times, "s", n, better="lower",
                              **_pcts(own_times)))
    user.close()
    return out


def merge(new: list[dict], path: Path = RESULTS) -> None:
    """Replace entries of the same name in the results file (creating it if needed)."""
    doc = json.loads(path.read_text()) if path.is_file() else {"results": []}
    names = {r["name"] for r in new}
    doc["results"] = [r for r in doc.get("results", []) if r.get("name") not in names] + new
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")


def run_parts(parts: list[str], tmp: Path) -> list[dict]:
    out: list[dict] = []
    if "sampler" in parts:
        from fakeimg_assets.testbed.local_hub.server import HubServer
        from fakeimg_assets.testbed.zoo.build import build_zoo

        build_zoo(tmp / "zoo")
        with HubServer(tmp / "zoo") as server:
            out += bench_sampler_vs_naive(server.url, tmp / "cache")
    if "quality" in parts:
        out += bench_quality_vs_decode(tmp)
    if "load" in parts:
        out += bench_code_location_load()
    if "loader" in parts:
        out += bench_detector_loading(tmp)
    if "warehouse" in parts:
        out += bench_warehouse_scale(tmp)
    return out


PARTS = ("sampler", "quality", "load", "loader", "warehouse")


def main(argv: list[str]) -> int:
    parts = argv or list(PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        print(f"unknown part(s) {unknown}; choose from {list(PARTS)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmpdir:
        results = run_parts(parts, Path(tmpdir))
    for r in results:
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "-"
        if "ratio_ci_low" in r:
            ratio += f" [{r['ratio_ci_low']:.2f}, {r['ratio_ci_high']:.2f}]"
        print(f"{r['name']}: {r['value']:.4g} {r['unit']} (baseline {r.get('baseline')}, "
              f"ratio {ratio})")
    merge(results)
    print(f"recorded {len(results)} entries in {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
