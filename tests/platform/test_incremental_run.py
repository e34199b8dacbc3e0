"""`fakeimg run` is incremental: it samples only missing or stale partitions and says why.

The real `run_platform` path (crawl, real photos and prompts, sample_model runs, real crops)
on the persistent instance, against a loopback Hub serving two tiny-zoo repos (one healthy,
one refused for good), two images at two steps, a folder of six photos, no detector. Then the planner itself on that instance for the inputs a run cannot cheaply
change here (a new Hub commit, a transient failure, `--force`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from fakeimg_assets.platform_run import RunOptions, run_platform
from tests.helpers.inline import thumbnail_of

pytestmark = pytest.mark.slow  # two whole `fakeimg run`s on the tiny zoo

REFUSED = "shadyhub/turbo-everything"  # a custom pipeline: refused for good
HEALTHY = "pixelsmith/dreamscape-v1"  # sd1


def _photo(folder: Path, i: int) -> None:
    from PIL import Image

    rgb = np.random.default_rng(i).integers(0, 256, (80, 96, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / f"photo{i}.png")
    (folder / f"photo{i}.txt").write_text(f"a photo of thing number {i}")


@pytest.fixture(scope="module")
def two_repo_hub(tmp_path_factory: pytest.TempPathFactory):
    """A Hub of its own: other tests' zoo additions never change which models run here."""
    from fakeimg_assets.testbed.local_hub.server import HubServer
    from fakeimg_assets.testbed.zoo.build import build_zoo

    root = tmp_path_factory.mktemp("two-repo-zoo")
    build_zoo(root, only=[HEALTHY, REFUSED])
    with HubServer(root) as server:
        yield server.url


@pytest.fixture
def env(home: Path, two_repo_hub: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_ENDPOINT", two_repo_hub)
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))  # run_platform sets it; undone
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        _photo(photos, i)
    return home, photos


def _run(env, log: list[str], *, defs=None, **overrides):  # noqa: ANN001, ANN202
    home, photos = env
    kwargs = {"images_per_model": 2, "steps": 2, "device": "cpu",
              "batch_size": 2, "detector": False, "real_folder": str(photos), **overrides}
    log.clear()
    return run_platform(RunOptions(**kwargs), home=home, log=log.append, defs=defs)


def _bumped_sampling_defs(home: Path) -> dg.Definitions:
    """fakeimg's definitions with sampled_images' code version bumped, as a code change would."""
    from fakeimg_assets.definitions import ALL_ASSETS, build_resources
    from fakeimg_assets.jobs import ALL_JOBS
    from resources import ComputeResource

    def bump(a: dg.AssetsDefinition) -> dg.AssetsDefinition:
        if dg.AssetKey("sampled_images") not in a.keys:
            return a
        return dg.map_asset_specs(lambda s: s.replace_attributes(code_version="bumped"), [a])[0]

    return dg.Definitions(
        assets=[bump(a) for a in ALL_ASSETS],
        jobs=ALL_JOBS,
        resources=build_resources(
            home=str(home), compute=ComputeResource(device="cpu", batch_size=2)
        ),
    )


def _reason(log: list[str]) -> str:
    return next(line for line in log if HEALTHY in line and ": ok (" in line)


def test_second_run_samples_nothing_and_changes_resample(env) -> None:
    log: list[str] = []
    first = _run(env, log)
    assert first.sampled == [HEALTHY] and set(first.refused) == {REFUSED}, first
    assert first.failed == {}, first  # a refusal by design is no failure
    assert any(f"{REFUSED}: refused (model_metadata refused at stage 'plan': UnsafeRepoError"
               in line for line in log), log
    assert first.ok and not first.detector_skipped
    assert "(never sampled)" in _reason(log)

    again = _run(env, log)
    assert again.sampled == [] and again.failed == {} and again.refused == {}, again
    assert again.skipped[HEALTHY] == "up to date", again.skipped
    assert again.skipped[REFUSED].startswith("refused for good: "), again.skipped
    assert again.ok, again  # nothing to do is a success, not "no model was sampled"
    text = "\n".join(log)
    assert "sampling 0 of 2 partitions; skipped 2: 1 refused for good, 1 up to date" in text
    assert "real_images: skipped, nothing sampled and every downstream asset up to date" in text

    crops = _run(env, log, crops_per_photo=1)  # run config is not versioned: a settings tag
    assert crops.sampled == [] and not crops.detector_skipped, crops
    assert any(line.startswith("real_crops: settings changed since its last run") for line in log)

    more = _run(env, log, images_per_model=3)
    assert more.sampled == [HEALTHY] and REFUSED in more.skipped, more
    assert "sampling config changed: images_per_model 2 -> 3" in _reason(log)

    bumped = _run(env, log, images_per_model=3, defs=_bumped_sampling_defs(env[0]))
    assert bumped.sampled == [HEALTHY], bumped
    assert "sampled_images has a new code version" in _reason(log)
    assert REFUSED in bumped.refused, bumped  # refused under other code: tried again

    _planner_rules(env, _bumped_sampling_defs(env[0]))


def _planner_rules(env, defs: dg.Definitions) -> None:  # noqa: ANN001
    """The planner on the instance the runs left: new captions (so new prompts), Hub
    commits, transient failures, --force."""
    from fakeimg_assets.run_plan import plan_partitions, stale_assets
    from fakeimg_assets.warehouse.store import Warehouse

    home, photos = env
    instance = dg.DagsterInstance.get()
    graph, store = defs.resolve_asset_graph(), Warehouse(home)
    catalog = {r["model_id"]: r for r in store.read("hub_models").to_dicts()}
    failures = store.read("model_failures")
    cfg = {"images_per_model": 3, "steps": 2, "post": ""}

    def plan(catalog=catalog, failures=failures, force=False):  # noqa: ANN001, ANN202
        decisions = plan_partitions(instance, graph, [HEALTHY, REFUSED], sampling_config=cfg,
                                    catalog=catalog, failures=failures, force=force)
        return {d.model_id: (d.sample, d.reason) for d in decisions}

    assert plan() == {
        HEALTHY: (False, "up to date"),
        REFUSED: (False, plan()[REFUSED][1]),
    } and plan()[REFUSED][1].startswith("refused for good")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    moved = {**catalog, HEALTHY: {**catalog[HEALTHY], "sha": "f" * 40},
             REFUSED: {**catalog[REFUSED], "last_modified": later}}
    decided = plan(catalog=moved)
    assert decided[HEALTHY][0] and decided[HEALTHY][1].startswith("new Hub revision "), decided
    assert decided[REFUSED] == (True, "repo changed on the Hub since its refusal"), decided
    quarantined = pl.concat([failures, pl.DataFrame([{  # what `verify --repair` writes
        "model_id": HEALTHY, "asset": "sampled_images", "stage": "storage",
        "error_type": "DamagedParquet", "message": "fake_images file quarantined",
        "transient": True, "failed_at": later, "dagster_run_id": None,
    }], schema=failures.schema)], how="diagonal_relaxed")
    decided = plan(failures=quarantined)[HEALTHY]
    assert decided[0] and decided[1].startswith("damaged Parquet quarantined"), decided
    # a refusal is the partition's materialized outcome: old failure rows do not undo it
    flaky = failures.with_columns(pl.lit(True).alias("transient"))
    assert plan(failures=flaky)[REFUSED][1].startswith("refused for good")
    sampled = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("sampled_images"), asset_partitions=[HEALTHY]),
        limit=1,
    ).records[0].asset_materialization
    assert sampled.metadata["dagster/partition_row_count"].value == 3  # standard metadata
    crops = instance.fetch_materializations(dg.AssetKey("real_images"), limit=1).records[0]
    assert crops.asset_materialization.metadata["dagster/row_count"].value == 3
    for mat in (sampled, crops.asset_materialization):  # sheets: files, and inline thumbnails
        sheet = home / mat.metadata["preview_path"].value  # relative to the home
        assert sheet.is_file() and sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert sheet.is_relative_to(home / "previews")
        thumbnail_of(mat.metadata["preview"].value)  # under 1000 characters: shown in place
    assert plan(force=True) == dict.fromkeys([HEALTHY, REFUSED], (True, "forced (--force)"))

    def real_data() -> None:
        result = defs.resolve_job_def("real_data").execute_in_process(
            run_config={"ops": {"real_photos": {"config": {"folder": str(photos)}}}},
            instance=instance,
        )
        assert result.success

    _test_side_photo(photos, store.read("real_photos")["source"][0])
    real_data()  # new reals, the same prompt pool: the partition stays fresh
    assert plan()[HEALTHY] == (False, "up to date"), plan()
    stale = stale_assets(instance, graph, ["real_images", "real_photos", "prompts"])
    assert stale == {"real_images": "real_photos has a new data version"}, stale

    for caption in photos.glob("*.txt"):  # new captions: a new prompt pool
        caption.write_text(caption.read_text() + ", seen again")
    real_data()
    assert plan()[HEALTHY] == (True, "prompts has a new data version"), plan()


def _test_side_photo(folder: Path, source: str) -> None:
    """Add one photo that falls on the test side (so its caption never becomes a prompt)."""
    from fakeimg_assets.real.screen import photo_id_of
    from fakeimg_assets.splits.sides import photo_side

    for i in range(100, 200):
        _photo(folder, i)
        if photo_side(photo_id_of(source, (folder / f"photo{i}.png").read_bytes())) == "test":
            return
        (folder / f"photo{i}.png").unlink()
        (folder / f"photo{i}.txt").unlink()
    raise AssertionError("no test-side photo among 100 seeds")


def test_partitions_only_adds_partitions_and_samples_nothing(env) -> None:
    """`fakeimg run --partitions-only` (a cluster's head, docs/cluster.md): the crawl, the
    real data, the partitions and the saved settings, and no sampling run at all."""
    from fakeimg_assets.models.sampling_settings import read_home_settings

    home, _ = env
    log: list[str] = []
    report = _run(env, log, sample=False, images_per_model=5)
    assert report.ok and report.sampled == [] and report.failed == {}, report
    assert sorted(report.to_backfill) == sorted([HEALTHY, REFUSED]), report
    with dg.DagsterInstance.get() as instance:
        assert set(instance.get_dynamic_partitions("hub_models")) == {HEALTHY, REFUSED}
        assert not instance.get_run_records(dg.RunsFilter(job_name="sample_model"))
    assert read_home_settings(home)["images_per_model"] == 5  # what the backfill samples with
    assert any("2 partitions left to a backfill" in line for line in log), log
    assert not (home / "images").exists() or not any((home / "images").rglob("*.png"))
