"""Layer 2: discovery drains any backlog (issue 9 item 4).

The real `hub_catalog` crawl against the loopback Hub, then `new_hub_models` ticks on
`instance_for_test`: a backlog bigger than a tick's batch drains in ceil(N / batch)
ticks, late-public and newly ungated repos (old dates) are still added, nothing is added
twice, run keys do not depend on the tick. Repos are metadata only (`.hub.json`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from fakeimg_assets.catalog.assets import hub_catalog
from fakeimg_assets.catalog.selection import SelectionPolicy
from fakeimg_assets.testbed.local_hub.server import HubServer
from resources import HubResource, WarehouseResource
from sensors import hub_sensors
from sensors.backlog import backlog, plan_tick

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def publish(root: Path, model_id: str, created: dt.datetime, **meta: object) -> None:
    """A metadata-only text-to-image diffusers repo (the listing needs nothing more)."""
    when = created.isoformat().replace("+00:00", "Z")
    repo = root / model_id
    repo.mkdir(parents=True, exist_ok=True)
    body = {"created_at": when, "last_modified": when, "library_name": "diffusers",
            "pipeline_tag": "text-to-image", **meta}
    (repo / ".hub.json").write_text(json.dumps(body))


def crawl(instance: dg.DagsterInstance, url: str, home: Path, **config: object) -> dict:
    """Materialize `hub_catalog`; its metadata (crawl_mode, crawled, ...)."""
    result = dg.materialize(
        [hub_catalog],
        resources={"hub": HubResource(endpoint=url), "warehouse": WarehouseResource(home=str(home))},
        instance=instance,
        run_config={"ops": {"hub_catalog": {"config": config}}},
    )
    assert result.success
    (mat,) = [m for m in result.asset_materializations_for_node("hub_catalog")
              if m.asset_key == dg.AssetKey("hub_catalog")]  # not crawl_rejects
    return {k: v.value for k, v in mat.metadata.items()}


def tick(
    instance: dg.DagsterInstance, home: Path, batch: int, cursor: str | None = None,
    *, apply: bool = True,
) -> dg.SensorResult:
    sensor = hub_sensors.build_new_hub_models_sensor(max_new_per_tick=batch)
    resources = {"warehouse": WarehouseResource(home=str(home))}
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    result = sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:  # what the daemon would apply
        if apply:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def added(result: dg.SensorResult) -> list[str]:
    return [k for r in result.dynamic_partitions_requests or [] for k in r.partition_keys]


def samples(result: dg.SensorResult) -> dict[str, str]:
    return {r.partition_key: r.run_key for r in result.run_requests if r.job_name == "sample_model"}


def test_a_backlog_bigger_than_a_tick_drains_in_ceil_n_over_batch_ticks(
    tmp_path: Path, home: Path
) -> None:
    served = tmp_path / "hub"
    ids = [f"org{i % 3}/m{i:02d}" for i in range(23)]
    for i, model_id in enumerate(ids):
        publish(served, model_id, T0 + dt.timedelta(days=i))
    publish(served, "lock/gated", T0 + dt.timedelta(days=99), gated="manual")
    with HubServer(served) as server, dg.instance_for_test() as instance:
        meta = crawl(instance, server.url, home)
        assert meta["crawl_mode"] == "full" and meta["catalog_size"] == 24
        instance.add_dynamic_partitions("hub_models", ids[:3])  # partitions made by hand
        todo, batch = len(ids) - 3, 6
        cursor, seen = None, []
        for _ in range(math.ceil(todo / batch)):
            result = tick(instance, home, batch, cursor)
            assert 0 < len(added(result)) <= batch  # the batch holds
            assert samples(result) == {m: f"sample:{m}" for m in added(result)}
            seen += added(result)
            cursor = result.cursor
        # every eligible repo is a partition, none twice, the hand-made ones never re-added
        assert sorted(seen) == sorted(ids[3:]) and len(seen) == len(set(seen))
        # newest upload first within one crawl: the queue order is stable
        assert seen == sorted(ids[3:], key=lambda m: ids.index(m), reverse=True)
        assert json.loads(cursor)["pending"] == 0
        last = tick(instance, home, batch, cursor)
        assert added(last) == [] and samples(last) == {}
        assert "lock/gated" not in instance.get_dynamic_partitions("hub_models")


def test_late_public_and_newly_ungated_repos_with_old_dates_are_added(
    tmp_path: Path, home: Path
) -> None:
    served = tmp_path / "hub"
    for i in range(6):
        publish(served, f"old/m{i}", T0 + dt.timedelta(days=i))
    publish(served, "lock/gated", T0 + dt.timedelta(days=2), gated="manual")
    with HubServer(served) as server, dg.instance_for_test() as instance:
        assert crawl(instance, server.url, home)["crawl_mode"] == "full"
        assert len(added(tick(instance, home, 10))) == 6
        # a private repo of 2019 turns public, the gated one opens, a new upload arrives
        publish(served, "late/public", dt.datetime(2019, 5, 1, tzinfo=dt.UTC))
        publish(served, "lock/gated", T0 + dt.timedelta(days=2))
        publish(served, "new/upload", T0 + dt.timedelta(days=30))
        meta = crawl(instance, server.url, home)  # auto: a sweep ran just now
        assert meta["crawl_mode"] == "incremental"
        assert meta["crawled"] < 8  # the head of the lists, not the whole Hub
        assert added(tick(instance, home, 10)) == ["new/upload"]
        # the next full sweep (here forced by a tiny period) sees the old-dated repos
        meta = crawl(instance, server.url, home, full_sweep_hours=1e-9)
        assert meta["crawl_mode"] == "full" and meta["crawled"] == 9
        result = tick(instance, home, 10)
        assert sorted(added(result)) == ["late/public", "lock/gated"]
        assert samples(result) == {"late/public": "sample:late/public",
                                   "lock/gated": "sample:lock/gated"}
        assert added(tick(instance, home, 10, result.cursor)) == []


def test_run_keys_do_not_depend_on_the_tick_and_a_lost_cursor_re_adds_nothing(
    tmp_path: Path, home: Path
) -> None:
    served = tmp_path / "hub"
    for i in range(5):
        publish(served, f"o/m{i}", T0 + dt.timedelta(days=i))
    with HubServer(served) as server, dg.instance_for_test() as instance:
        crawl(instance, server.url, home)
        first = tick(instance, home, 2, apply=False)  # the daemon died before applying it
        again = tick(instance, home, 2, first.cursor)
        assert added(first) == added(again) == ["o/m4", "o/m3"]
        assert samples(first) == samples(again)
        second = tick(instance, home, 2, None)  # cursor lost
        assert added(second) == ["o/m2", "o/m1"]
        assert tick(instance, home, 2, "not json").cursor  # a garbled cursor is not fatal


def test_the_sensor_requests_one_crawl_per_period_when_none_ran(
    tmp_path: Path, home: Path
) -> None:
    served = tmp_path / "hub"
    publish(served, "o/m0", T0)
    wh = WarehouseResource(home=str(home))
    settings = hub_sensors.TickSettings(crawl_every_s=600)

    def crawls(instance: dg.DagsterInstance, now: float) -> list[str]:
        ctx = dg.build_sensor_context(instance=instance, resources={"warehouse": wh})
        result = hub_sensors.evaluate_tick(ctx, wh, settings, now=now)
        return [r.run_key for r in result.run_requests if r.job_name == "hub_crawl"]

    with HubServer(served) as server, dg.instance_for_test() as instance:
        now = dt.datetime.now(dt.UTC).timestamp()
        period = int(now // 600)
        assert crawls(instance, now) == [f"crawl:600:{period}"]  # never crawled
        crawl(instance, server.url, home)
        assert crawls(instance, now) == []  # crawled in this period
        assert crawls(instance, now + 600) == [f"crawl:600:{period + 1}"]


def _catalog(rows: list[tuple[str, int, int, str]]) -> pl.DataFrame:
    """(model_id, first_seen day, created day, gated) rows as `hub_models`."""
    from fakeimg_assets.warehouse.schemas import to_frame

    return to_frame("hub_models", [
        {"model_id": m, "author": m.split("/")[0], "first_seen_at": T0 + dt.timedelta(days=f),
         "created_at": T0 + dt.timedelta(days=c), "gated": g, "private": False,
         "library_name": "diffusers", "pipeline_tag": "text-to-image"}
        for m, f, c, g in rows
    ])


def test_the_queue_is_first_seen_first_then_newest_upload() -> None:
    cat = _catalog([("a/old-seen", 0, 1, "false"), ("b/new", 1, 9, "false"),
                    ("c/late-public", 2, -900, "false"), ("d/newer", 1, 10, "false"),
                    ("e/gated", 0, 5, "manual")])
    assert backlog(cat, [], SelectionPolicy()) == ["a/old-seen", "d/newer", "b/new", "c/late-public"]
    assert backlog(cat, ["d/newer"], SelectionPolicy(allow_gated=True))[:2] == ["e/gated", "a/old-seen"]
    planned = plan_tick(cat, ["a/old-seen"], SelectionPolicy(), batch=2)
    assert planned.add == ["d/newer", "b/new"] and planned.pending_after == 1
    with pytest.raises(ValueError, match="batch"):
        plan_tick(cat, [], SelectionPolicy(), batch=0)
    with pytest.raises(ValueError, match="first_seen_at"):
        backlog(cat.drop("first_seen_at"), [], SelectionPolicy())
    with pytest.raises(ValueError, match="max_new_per_tick"):
        hub_sensors.build_new_hub_models_sensor(max_new_per_tick=0)


def test_auto_crawls_sweep_fully_when_due_and_bad_settings_are_named() -> None:
    from fakeimg_assets.catalog.crawl import CrawlState, choose_mode

    now = T0 + dt.timedelta(days=10)
    swept = CrawlState(catalog_size=5, last_full_sweep_at=now - dt.timedelta(hours=23))
    assert choose_mode("auto", swept, now, 24) == "incremental"
    assert choose_mode("auto", swept, now + dt.timedelta(hours=1), 24) == "full"
    assert choose_mode("auto", CrawlState(catalog_size=5), now, 24) == "full"  # never swept
    assert choose_mode("incremental", CrawlState(), now, 24) == "full"  # empty catalogue
    with pytest.raises(ValueError, match="'sideways'"):
        choose_mode("sideways", swept, now, 24)
    with pytest.raises(ValueError, match="full_sweep_hours"):
        choose_mode("auto", swept, now, 0)
