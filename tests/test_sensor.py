"""Layer 2: the `new_hub_models` sensor over ticks, against a Hub that grows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg

from fakeimg_assets.hub.server import HubServer
from resources import HubResource
from sensors.hub_sensors import new_hub_models


def _copy_repo(src_root: Path, model_id: str, dst_root: Path, new_id: str, created_at: str) -> None:
    dst = dst_root / new_id
    shutil.copytree(src_root / model_id, dst)
    meta_path = dst / ".hub.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta.update({"created_at": created_at, "last_modified": created_at, "author": new_id.split("/")[0]})
    meta_path.write_text(json.dumps(meta))


def _tick(instance: dg.DagsterInstance, url: str, cursor: str | None) -> dg.SensorResult:
    ctx = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"hub": HubResource(endpoint=url)}
    )
    result = new_hub_models(ctx)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:  # what the daemon would apply
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def _added(result: dg.SensorResult) -> list[str]:
    return sorted(k for r in result.dynamic_partitions_requests or [] for k in r.partition_keys)


def test_sensor_adds_exactly_new_models(tmp_path: Path, zoo_dir: Path, zoo_catalog) -> None:
    healthy = [m for m in zoo_catalog if m.expect == "ok" and not m.gated]
    served = tmp_path / "hub"
    for i, m in enumerate(healthy[:3]):
        _copy_repo(zoo_dir, m.model_id, served, f"early/model-{i}", f"2024-0{i + 1}-01T00:00:00.000Z")
    with HubServer(served) as server, dg.instance_for_test() as instance:
        first = _tick(instance, server.url, None)
        assert _added(first) == ["early/model-0", "early/model-1", "early/model-2"]
        assert sorted(r.partition_key for r in first.run_requests) == _added(first)
        assert all(r.job_name in (None, "sample_model") for r in first.run_requests)

        # two models published later appear on the Hub
        _copy_repo(zoo_dir, healthy[3].model_id, served, "late/model-a", "2026-11-01T00:00:00.000Z")
        _copy_repo(zoo_dir, healthy[4].model_id, served, "late/model-b", "2026-11-02T00:00:00.000Z")
        second = _tick(instance, server.url, first.cursor)
        assert _added(second) == ["late/model-a", "late/model-b"]
        assert sorted(r.partition_key for r in second.run_requests) == ["late/model-a", "late/model-b"]

        third = _tick(instance, server.url, second.cursor)
        assert _added(third) == [] and not third.run_requests
        assert sorted(instance.get_dynamic_partitions("hub_models")) == [
            "early/model-0", "early/model-1", "early/model-2", "late/model-a", "late/model-b"
        ]


def test_sensor_skips_gated_and_survives_lost_cursor(tmp_path: Path, zoo_dir: Path, zoo_catalog) -> None:
    healthy = [m for m in zoo_catalog if m.expect == "ok"]
    served = tmp_path / "hub"
    _copy_repo(zoo_dir, healthy[0].model_id, served, "open/model", "2025-01-01T00:00:00.000Z")
    _copy_repo(zoo_dir, healthy[1].model_id, served, "closed/model", "2025-02-01T00:00:00.000Z")
    meta = json.loads((served / "closed/model/.hub.json").read_text())
    (served / "closed/model/.hub.json").write_text(json.dumps({**meta, "gated": "manual"}))
    with HubServer(served) as server, dg.instance_for_test() as instance:
        assert _added(_tick(instance, server.url, None)) == ["open/model"]
        # a reset cursor re-scans but adds nothing twice
        assert _added(_tick(instance, server.url, None)) == []


def test_sensor_module_does_no_network_at_import() -> None:
    import importlib

    import sensors.hub_sensors as mod

    importlib.reload(mod)  # the conftest socket guard would raise on any non-loopback call
    assert mod.new_hub_models.name == "new_hub_models"
