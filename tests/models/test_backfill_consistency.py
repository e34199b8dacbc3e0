"""Backfills from the UI keep the data consistent: an empty launch config samples with the
home's settings, an identical request does no work ('unchanged'), and the stats follow
the images through the `fakeimg_stats_follow_images` sensor's condition.

Real assets on `instance_for_test` against the loopback Hub serving the tiny zoo; the
sensor's condition is evaluated with Dagster's own test utility over the sensor's target.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from fakeimg_assets.automation import STATS_SENSOR
from fakeimg_assets.definitions import build_definitions, build_resources
from fakeimg_assets.lib.paths import model_slug
from fakeimg_assets.models.assets import image_quality_stats, model_metadata, sampled_images
from fakeimg_assets.models.refusals import latest_metadata
from fakeimg_assets.models.sampling_settings import (
    SamplingSettingsError,
    read_home_settings,
    resolve,
    settings_path,
    write_home_settings,
)
from fakeimg_assets.run_plan import plan_partitions
from fakeimg_assets.warehouse.store import Warehouse
from tests.helpers.partitions import prepare_partition

STATS_KEYS = ("image_quality_stats", "model_stats")


def _sampling(**config: object) -> dict:
    return {"ops": {"sampled_images": {"config": config}}}


def _files(home: Path, model_id: str) -> dict[str, int]:
    """Each image file of the partition -> its modification time in ns."""
    rows = Warehouse(home).read_key("images", f"fake--{model_slug(model_id)}")
    return {p: (home / p).stat().st_mtime_ns for p in sorted(rows["path"])}


def _data_version(instance: dg.DagsterInstance, model_id: str) -> str:
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("sampled_images"),
                              asset_partitions=[model_id]), limit=1).records[0]
    return record.asset_materialization.tags["dagster/data_version"]


@pytest.mark.slow
def test_a_ui_backfill_uses_the_home_settings_skips_identical_work_and_stats_follow(
    resources: dict, home: Path, zoo_catalog
) -> None:
    from tests.helpers.zoo import pick

    model_id = pick(zoo_catalog, expect="ok", architecture="sd1").model_id
    write_home_settings(home, {"images_per_model": 2, "steps": 2, "post": ""},
                        written_by="test", written_at="now")  # what `fakeimg run` leaves
    defs = build_definitions(home=str(home))
    sensor = defs.resolve_sensor_def(STATS_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING and sensor.description
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in sensor.asset_selection.resolve(graph)} == set(STATS_KEYS)

    def tick(cursor=None):  # noqa: ANN001, ANN202 - what the sensor evaluates, one tick
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=sensor.asset_selection, cursor=cursor)
        return result, {k: set(result.get_requested_partitions(dg.AssetKey(k)))
                        for k in STATS_KEYS if result.get_requested_partitions(dg.AssetKey(k))}

    with dg.instance_for_test() as instance:
        prepare_partition(instance, resources, model_id)
        # the launch dialog's empty config: the home's 2 images at 2 steps, not 16 at 28
        assert dg.materialize([model_metadata, sampled_images, image_quality_stats],
                              partition_key=model_id, resources=resources,
                              instance=instance).success
        images = Warehouse(home).read_key("images", f"fake--{model_slug(model_id)}")
        assert images.height == 2 and set(images["steps"]) == {2}
        meta = latest_metadata(instance, "sampled_images", model_id)
        assert meta["outcome"] == "sampled"
        assert {k: meta["sampling_config"][k] for k in ("images_per_model", "steps", "post")} == {
            "images_per_model": 2, "steps": 2, "post": ""}
        first, requested = tick()
        assert requested == {}
        files, version = _files(home, model_id), _data_version(instance, model_id)

        # the same backfill again: 'unchanged', same data version, the sampler never ran
        assert dg.materialize([sampled_images], partition_key=model_id, resources=resources,
                              instance=instance).success
        again = latest_metadata(instance, "sampled_images", model_id)
        assert again["outcome"] == "unchanged" and again["sampler"] == meta["sampler"]
        assert _files(home, model_id) == files and _data_version(instance, model_id) == version
        quiet, requested = tick(first.cursor)
        assert requested == {}  # no new images: the stats stay as they are

        # a file gone from disk is no 'unchanged': the same request samples it back
        lost = home / next(iter(files))
        lost.unlink()
        assert dg.materialize([sampled_images], partition_key=model_id, resources=resources,
                              instance=instance).success
        assert latest_metadata(instance, "sampled_images", model_id)["outcome"] == "sampled"
        resampled = _files(home, model_id)  # a new version folder, every file on disk
        assert len(resampled) == len(files) and all((home / p).is_file() for p in resampled)
        assert _data_version(instance, model_id) == version  # same seeds, same bytes

        # a backfill asking for other settings: new images, stale stats, then refreshed
        assert dg.materialize([sampled_images], partition_key=model_id, resources=resources,
                              instance=instance, run_config=_sampling(images_per_model=3)).success
        assert latest_metadata(instance, "sampled_images", model_id)["outcome"] == "sampled"
        assert Warehouse(home).read_key("images", f"fake--{model_slug(model_id)}").height == 3
        assert _data_version(instance, model_id) != version
        (decision,) = plan_partitions(
            instance, graph, [model_id], catalog={}, failures=Warehouse(home).read("model_failures"),
            sampling_config={"images_per_model": 3, "steps": 2, "post": ""})
        assert decision.sample and "sampled_images has a new data version" in decision.reason
        follow, requested = tick(quiet.cursor)
        assert requested == {k: {model_id} for k in STATS_KEYS}
        assert dg.materialize([image_quality_stats], partition_key=model_id,
                              resources=resources, instance=instance).success
        ms = Warehouse(home).read_key("model_stats", model_slug(model_id)).row(0, named=True)
        assert ms["n_images"] == 3  # stats agree with fake_images again
        done, requested = tick(follow.cursor)
        assert requested == {}

        # force: the same request sampled again
        forced = dg.materialize([sampled_images], partition_key=model_id, resources=resources,
                                instance=instance,
                                run_config=_sampling(images_per_model=3, force=True))
        assert forced.success
        assert latest_metadata(instance, "sampled_images", model_id)["outcome"] == "sampled"


def test_home_settings_resolve_and_round_trip(tmp_path: Path) -> None:
    assert read_home_settings(tmp_path) == {}  # never written: code defaults
    assert resolve({}, {})["images_per_model"] == 16
    write_home_settings(tmp_path, {"images_per_model": 24, "steps": 10, "post": "jpeg:90"},
                        written_by="fakeimg run", written_at="2026-12-01T00:00:00")
    home = read_home_settings(tmp_path)
    assert resolve({"images_per_model": None, "steps": None, "post": None}, home) == {
        "images_per_model": 24, "steps": 10, "guidance_scale": None, "height": None,
        "width": None, "post": "jpeg:90"}
    # what the run asks for wins, an explicit empty post included
    assert resolve({"images_per_model": 3, "post": ""}, home)["images_per_model"] == 3
    assert resolve({"post": ""}, home)["post"] == ""
    with pytest.raises(SamplingSettingsError, match=r"field 'steps': expected an integer"):
        write_home_settings(tmp_path, {"steps": 0}, written_by="x", written_at="y")
    assert read_home_settings(tmp_path)["steps"] == 10  # a refused write changed nothing


@pytest.mark.parametrize(("content", "match"), [
    ('{"images_per_model": "many"}', r"field 'images_per_model': expected an integer >= 1"),
    ('{"steps": 2, "height": 30}', r"field 'height': expected a multiple of 8, got 30"),
    ('{"stpes": 2}', r"unknown field\(s\) \['stpes'\]"),
    ('{"images_per_model": 4,', r"not JSON"),
    ('[4]', r"expected a JSON object"),
])
def test_a_bad_settings_file_fails_the_run_naming_the_file_and_field(
    tmp_path: Path, content: str, match: str
) -> None:
    home = tmp_path / "home"
    settings_path(home).parent.mkdir(parents=True)
    settings_path(home).write_text(content)
    with pytest.raises(SamplingSettingsError, match=match) as err:
        read_home_settings(home)
    assert str(settings_path(home)) in str(err.value)
    # through the asset: the step fails before any Hub call, the message names the file
    resources = build_resources(home=str(home), endpoint="http://127.0.0.1:9")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hub_models", ["org/model"])
        result = dg.materialize([sampled_images], partition_key="org/model",
                                resources=resources, instance=instance, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    text = json.dumps(str(failure.event_specific_data.error))
    assert "SamplingSettingsError" in text and "sampling.json" in text
    assert not Warehouse(home).read("model_failures").height  # not the model's fault
