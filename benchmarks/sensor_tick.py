"""Benchmark: one `new_hub_models` tick with 10,000 known and 100 new models (issue 9).

A local Hub of 10,100 metadata-only text-to-image repos; a catalogue of the 10,000
older ones as a full sweep an hour ago left it, all of them partitions already. 100
newer repos are on the Hub: the (incremental) `hub_catalog` crawl lists them, then one
sensor tick adds them. Reports the tick (evaluation plus applying the partition
additions, as the daemon does), a second tick with nothing new, and the crawl. Each tick's
baseline, on its own instance with the same partitions and catalogue: the least any such
sensor does (the catalogue's ids read with DuckDB, minus the instance's partitions, the
new ones added).

`make bench` runs it; alone, `python -m benchmarks.sensor_tick [KNOWN NEW]` also records
its entries in `benchmarks/results.json` (replacing entries of the same name).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
RESULTS = Path(__file__).with_name("results.json")


def _iso(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def publish(root: Path, model_id: str, created: dt.datetime) -> None:
    """A metadata-only text-to-image diffusers repo: all the listing needs."""
    repo = root / model_id
    repo.mkdir(parents=True, exist_ok=True)
    meta = {"created_at": _iso(created), "last_modified": _iso(created),
            "library_name": "diffusers", "pipeline_tag": "text-to-image"}
    (repo / ".hub.json").write_text(json.dumps(meta))


def _model_id(i: int) -> str:
    return f"org{i % 100:02d}/model-{i:05d}"


def _catalog_rows(n: int, swept: dt.datetime) -> list[dict]:
    """`hub_models` rows of the first n repos, as a full sweep at `swept` wrote them."""
    rows = []
    for i in range(n):
        model_id, when = _model_id(i), T0 + dt.timedelta(hours=i)
        rows.append({
            "model_id": model_id, "author": model_id.split("/")[0], "sha": "0" * 40,
            "created_at": when, "last_modified": when, "downloads": 0, "likes": 0,
            "pipeline_tag": "text-to-image", "library_name": "diffusers", "license": None,
            "gated": "false", "private": False, "tags": ["diffusers", "text-to-image"],
            "first_seen_at": swept, "last_seen_at": swept,
        })
    return rows


def bench_sensor_tick(tmp: Path, known: int = 10_000, new: int = 100) -> list[dict]:
    import dagster as dg

    from fakeimg_assets.catalog.assets import hub_catalog
    from fakeimg_assets.testbed.local_hub.server import HubServer
    from fakeimg_assets.warehouse.store import Warehouse
    from resources import HubResource, WarehouseResource
    from sensors.hub_sensors import build_new_hub_models_sensor

    if known < 1 or new < 1:
        raise ValueError(f"known and new must be >= 1, got {known}, {new}")
    root, home = tmp / "sensor-hub", tmp / "sensor-home"
    for i in range(known + new):
        publish(root, _model_id(i), T0 + dt.timedelta(hours=i))
    swept = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    Warehouse(home).write("hub_models", "all", _catalog_rows(known, swept))
    warehouse = WarehouseResource(home=str(home))
    sensor = build_new_hub_models_sensor(max_new_per_tick=max(200, new))

    def tick(instance: dg.DagsterInstance) -> list[str]:
        ctx = dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
        result = sensor(ctx)
        assert isinstance(result, dg.SensorResult)
        keys = [k for r in result.dynamic_partitions_requests or [] for k in r.partition_keys]
        for r in result.dynamic_partitions_requests or []:  # what the daemon applies
            instance.add_dynamic_partitions(r.partitions_def_name, list(r.partition_keys))
        return keys

    def plain_tick(instance: dg.DagsterInstance) -> list[str]:
        """The baseline: the least any such sensor does. The catalogue's ids read with
        DuckDB, minus the instance's partitions, added to the instance (no selection
        policy, no cursor)."""
        import duckdb

        folder = home / "parquet" / "hub_models"
        ids = [r[0] for r in duckdb.sql(
            f"SELECT model_id FROM read_parquet('{folder}/*.parquet')").fetchall()]
        have = set(instance.get_dynamic_partitions("hub_models"))
        fresh = sorted(set(ids) - have)
        if fresh:
            instance.add_dynamic_partitions("hub_models", fresh)
        return fresh

    (tmp / "sensor-dagster").mkdir(parents=True, exist_ok=True)
    (tmp / "plain-dagster").mkdir(parents=True, exist_ok=True)
    with dg.instance_for_test(temp_dir=str(tmp / "plain-dagster")) as instance:
        instance.add_dynamic_partitions("hub_models", [_model_id(i) for i in range(known)])
        Warehouse(home).write("hub_models", "all", _catalog_rows(known + new, swept))
        import duckdb  # warm: the import and a first read are not the baseline's work

        duckdb.sql(f"SELECT count(*) FROM read_parquet('{home}/parquet/hub_models/*.parquet')")
        t0 = time.perf_counter()
        if len(plain_tick(instance)) != new:
            raise RuntimeError("the baseline tick did not find the new models")
        plain_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        plain_tick(instance)
        plain_idle_s = time.perf_counter() - t0
        Warehouse(home).write("hub_models", "all", _catalog_rows(known, swept))  # as before
    with dg.instance_for_test(temp_dir=str(tmp / "sensor-dagster")) as instance:
        instance.add_dynamic_partitions("hub_models", [_model_id(i) for i in range(known)])
        instance.report_runless_asset_event(
            dg.AssetMaterialization("hub_catalog", metadata={"full_sweep_at": swept.isoformat()})
        )
        with HubServer(root) as server:
            t0 = time.perf_counter()
            crawl = dg.materialize(
                [hub_catalog], instance=instance,
                resources={"hub": HubResource(endpoint=server.url), "warehouse": warehouse},
            )
            crawl_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            plain_listed = plain_crawl(server.url, _catalog_rows(known, swept), swept)
            plain_crawl_s = time.perf_counter() - t0
        assert crawl.success
        (mat,) = [m for m in crawl.asset_materializations_for_node("hub_catalog")
                  if m.asset_key == dg.AssetKey("hub_catalog")]  # not crawl_rejects
        mode, listed = mat.metadata["crawl_mode"].value, mat.metadata["crawled"].value
        t0 = time.perf_counter()
        added = tick(instance)
        tick_s = time.perf_counter() - t0
        if len(added) != new:
            raise RuntimeError(f"the tick added {len(added)} models, expected {new}")
        t0 = time.perf_counter()
        again = tick(instance)
        idle_s = time.perf_counter() - t0
        if again:
            raise RuntimeError(f"a second tick re-added {len(again)} models")
    label = f"{known:,} known + {new} new models"
    return [
        {"name": f"sensor tick ({label})", "value": tick_s, "unit": "s", "n": new,
         "target": 5.0, "baseline": plain_s, "ratio": tick_s / plain_s, "better": "lower"},
        {"name": f"sensor tick ({known + new:,} known, nothing new)", "value": idle_s,
         "unit": "s", "n": 0, "baseline": plain_idle_s, "ratio": idle_s / plain_idle_s,
         "better": "lower"},
        {"name": f"hub crawl {mode} ({label}, local Hub)", "value": crawl_s, "unit": "s",
         "n": listed, "baseline": plain_crawl_s, "ratio": crawl_s / plain_crawl_s,
         "better": "lower", "baseline_listed": plain_listed},
    ]


def plain_crawl(url: str, rows: list[dict], swept: dt.datetime) -> int:
    """The crawl's baseline: the least any incremental crawler does, with huggingface_hub's
    own client. The same two newest-first listings (`createdAt`, `lastModified`, the same
    query), each read until the previous crawl's watermark less the same 24 h overlap, ids
    deduplicated. Nothing is vetted and no catalogue is written: the vetting, the
    catalogue's write and the Dagster run around them are what the ratio measures. Returns
    how many ids it listed."""
    from huggingface_hub import HfApi

    from fakeimg_assets.catalog.crawl import state_from_catalog

    api = HfApi(endpoint=url)
    state = state_from_catalog(rows, swept.isoformat())
    overlap = dt.timedelta(hours=24)
    ids: set[str] = set()
    for sort, attr, since in (("createdAt", "created_at", state.newest_created_at),
                              ("lastModified", "last_modified", state.last_crawl_at)):
        for model in api.list_models(filter="diffusers", pipeline_tag="text-to-image", sort=sort,
                                     expand=["createdAt", "lastModified"]):
            when = getattr(model, attr)
            if since is not None and when is not None and when < since - overlap:
                break
            ids.add(model.id)
    return len(ids)


def record(entries: list[dict], path: Path = RESULTS) -> None:
    """Merge entries into results.json by name, keeping every other entry."""
    report = json.loads(path.read_text()) if path.exists() else {"results": []}
    names = {e["name"] for e in entries}
    kept = [r for r in report.get("results", []) if r.get("name") not in names]
    report["results"] = kept + entries
    path.write_text(json.dumps(report, indent=2))


def main(argv: list[str]) -> int:
    known, new = (int(argv[0]), int(argv[1])) if len(argv) == 2 else (10_000, 100)
    with tempfile.TemporaryDirectory() as tmpdir:
        entries = bench_sensor_tick(Path(tmpdir), known, new)
    for r in entries:
        against = (f" vs {r['baseline']:.3f} s plain, ratio {r['ratio']:.2f}"
                   if "baseline" in r else "")
        print(f"{r['name']}: {r['value']:.3f} {r['unit']} (n={r['n']}){against}")
    record(entries)
    print(f"recorded in {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
