"""Layer 2: the `new_hub_models` sensor over ticks, against a Hub that grows.

Each tick follows a real `hub_catalog` crawl of the loopback Hub: the sensor works from
the crawled catalogue (backlog draining is in test_sensor_backlog.py).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from fakeimg_assets.catalog.assets import hub_catalog
from fakeimg_assets.testbed.local_hub.server import HubServer
from resources import HubResource, WarehouseResource
from sensors import hub_sensors
from sensors.hub_sensors import new_hub_models


def _copy_repo(src_root: Path, model_id: str, dst_root: Path, new_id: str, created_at: str) -> None:
    dst = dst_root / new_id
    shutil.copytree(src_root / model_id, dst)
    meta_path = dst / ".hub.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta.update({"created_at": created_at, "last_modified": created_at, "author": new_id.split("/")[0]})
    meta_path.write_text(json.dumps(meta))


def _tick(
    instance: dg.DagsterInstance, url: str | None, cursor: str | None, home: Path
) -> dg.SensorResult:
    """Crawl the Hub at `url` (skipped when None), then one sensor tick."""
    resources = {"hub": HubResource(endpoint=url), "warehouse": WarehouseResource(home=str(home))}
    if url is not None:
        assert dg.materialize([hub_catalog], resources=resources, instance=instance).success
    # a period of ~30 years: the crawl above always counts for the current one
    sensor = hub_sensors.build_new_hub_models_sensor(crawl_every_s=10**9)
    ctx = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"warehouse": resources["warehouse"]}
    )
    result = sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:  # what the daemon would apply
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def _added(result: dg.SensorResult) -> list[str]:
    return sorted(k for r in result.dynamic_partitions_requests or [] for k in r.partition_keys)


def test_sensor_adds_exactly_new_models(
    tmp_path: Path, home: Path, zoo_dir: Path, zoo_catalog
) -> None:
    healthy = [m for m in zoo_catalog if m.expect == "ok" and not m.gated]
    served = tmp_path / "hub"
    for i, m in enumerate(healthy[:3]):
        _copy_repo(zoo_dir, m.model_id, served, f"early/model-{i}", f"2024-0{i + 1}-01T00:00:00.000Z")
    with HubServer(served) as server, dg.instance_for_test() as instance:
        first = _tick(instance, server.url, None, home)
        assert _added(first) == ["early/model-0", "early/model-1", "early/model-2"]
        assert sorted(r.partition_key for r in first.run_requests) == _added(first)
        assert all(r.job_name in (None, "sample_model") for r in first.run_requests)

        # two models published later appear on the Hub
        _copy_repo(zoo_dir, healthy[3].model_id, served, "late/model-a", "2026-11-01T00:00:00.000Z")
        _copy_repo(zoo_dir, healthy[4].model_id, served, "late/model-b", "2026-11-02T00:00:00.000Z")
        second = _tick(instance, server.url, first.cursor, home)
        assert _added(second) == ["late/model-a", "late/model-b"]
        assert sorted(r.partition_key for r in second.run_requests) == ["late/model-a", "late/model-b"]

        third = _tick(instance, server.url, second.cursor, home)
        assert _added(third) == [] and not third.run_requests
        assert sorted(instance.get_dynamic_partitions("hub_models")) == [
            "early/model-0", "early/model-1", "early/model-2", "late/model-a", "late/model-b"
        ]


def test_sensor_skips_gated_and_survives_lost_cursor(
    tmp_path: Path, home: Path, zoo_dir: Path, zoo_catalog
) -> None:
    healthy = [m for m in zoo_catalog if m.expect == "ok"]
    served = tmp_path / "hub"
    _copy_repo(zoo_dir, healthy[0].model_id, served, "open/model", "2025-01-01T00:00:00.000Z")
    _copy_repo(zoo_dir, healthy[1].model_id, served, "closed/model", "2025-02-01T00:00:00.000Z")
    meta = json.loads((served / "closed/model/.hub.json").read_text())
    (served / "closed/model/.hub.json").write_text(json.dumps({**meta, "gated": "manual"}))
    with HubServer(served) as server, dg.instance_for_test() as instance:
        assert _added(_tick(instance, server.url, None, home)) == ["open/model"]
        # a reset cursor re-scans but adds nothing twice
        assert _added(_tick(instance, server.url, None, home)) == []


def test_sensor_module_does_no_network_at_import() -> None:
    import importlib

    import sensors.hub_sensors as mod

    importlib.reload(mod)  # the conftest socket guard would raise on any non-loopback call
    assert mod.new_hub_models.name == "new_hub_models"


# ---- caps: a tick cut short never loses the models it left behind --------------------


def _serve_dated(tmp_path: Path, zoo_dir: Path, zoo_catalog, ids_dates: list[tuple[str, str]]) -> Path:
    healthy = [m for m in zoo_catalog if m.expect == "ok" and not m.gated]
    served = tmp_path / "hub"
    for (new_id, when), m in zip(ids_dates, healthy, strict=False):
        _copy_repo(zoo_dir, m.model_id, served, new_id, when)
    return served


THREE = [
    ("a/newest", "2026-03-01T00:00:00.000Z"),
    ("b/middle", "2026-02-01T00:00:00.000Z"),
    ("c/oldest", "2026-01-01T00:00:00.000Z"),
]


def test_three_ticks_with_a_cap_of_one_add_all_three_models(
    tmp_path: Path, home: Path, zoo_dir: Path, zoo_catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_sensors, "MAX_NEW_PER_TICK", 1)
    served = _serve_dated(tmp_path, zoo_dir, zoo_catalog, THREE)
    with HubServer(served) as server, dg.instance_for_test() as instance:
        cursor, added = None, []
        for _ in range(3):
            result = _tick(instance, server.url, cursor, home)
            assert len(_added(result)) == 1  # the cap holds
            added += _added(result)
            cursor = result.cursor
        assert added == ["a/newest", "b/middle", "c/oldest"]
        fourth = _tick(instance, server.url, cursor, home)
        assert _added(fourth) == [] and json.loads(fourth.cursor)["pending"] == 0
        _copy_repo(zoo_dir, zoo_catalog[0].model_id, served, "d/later", "2026-04-01T00:00:00.000Z")
        assert _added(_tick(instance, server.url, fourth.cursor, home)) == ["d/later"]


# ---- re-requests after transient failures --------------------------------------------


def _fail(wh: WarehouseResource, model_id: str, when: dt.datetime, transient: bool, run: str) -> None:
    wh.write("model_failures", f"{model_id.replace('/', '--')}--x--{when:%Y%m%dT%H%M%S}", [{
        "model_id": model_id, "asset": "model_metadata", "stage": "plan",
        "error_type": "TransientError" if transient else "UnsafeRepoError", "message": "m",
        "transient": transient, "failed_at": when, "dagster_run_id": run,
    }])


def _sampled(wh: WarehouseResource, model_id: str, when: dt.datetime) -> None:
    wh.write("fake_images", f"fake--{model_id.replace('/', '--')}", [{
        "image_id": f"fake:{model_id}:00000", "label": "fake", "source": model_id,
        "path": "images/x.png", "created_at": when,
    }])


def test_sensor_re_requests_transient_failures_only(
    tmp_path: Path, home: Path, zoo_dir: Path, zoo_catalog
) -> None:
    t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)
    wh = WarehouseResource(home=str(home))
    _fail(wh, "t/flaky", t0, True, "r1")  # transient, nothing since: re-request
    _fail(wh, "p/hostile", t0, False, "r1")  # permanent: never
    _fail(wh, "m/mixed", t0, True, "r1")
    _fail(wh, "m/mixed", t0 + hour, False, "r2")  # latest is permanent: never
    _fail(wh, "s/healed", t0, True, "r1")
    _sampled(wh, "s/healed", t0 + hour)  # sampled after the failure: nothing to do
    for i in range(3):  # three runs failed transiently since its last success: give up
        _fail(wh, "g/given-up", t0 + i * hour, True, f"r{i}")
    served = _serve_dated(tmp_path, zoo_dir, zoo_catalog, THREE[:1])
    with HubServer(served) as server, dg.instance_for_test() as instance:
        models = ["t/flaky", "p/hostile", "m/mixed", "s/healed", "g/given-up"]
        instance.add_dynamic_partitions("hub_models", [*models, "a/newest"])
        first = _tick(instance, server.url, None, home)
        retried = {r.partition_key: r.run_key for r in first.run_requests}
        assert retried == {"t/flaky": f"sample:t/flaky:retry:{t0.isoformat()}"}
        assert _added(first) == []

        _fail(wh, "t/flaky", t0 + hour, True, "r2")  # the retry failed transiently again
        second = _tick(instance, server.url, first.cursor, home)
        assert [r.run_key for r in second.run_requests] == [
            f"sample:t/flaky:retry:{(t0 + hour).isoformat()}"  # a new key per failure
        ]
        _fail(wh, "t/flaky", t0 + 2 * hour, True, "r3")  # third transient run: stop
        third = _tick(instance, server.url, second.cursor, home)
        assert third.run_requests == [] and third.skip_reason


def test_before_any_crawl_retries_still_go_out_and_a_crawl_is_requested(home: Path) -> None:
    t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    _fail(WarehouseResource(home=str(home)), "t/flaky", t0, True, "r1")
    wh = WarehouseResource(home=str(home))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hub_models", ["t/flaky"])
        ctx = dg.build_sensor_context(instance=instance, resources={"warehouse": wh})
        result = new_hub_models(ctx)  # no catalogue yet: the Hub was never crawled
    assert isinstance(result, dg.SensorResult) and _added(result) == []
    jobs = sorted((r.job_name, r.partition_key) for r in result.run_requests)
    assert jobs == [("hub_crawl", None), ("sample_model", "t/flaky")]
