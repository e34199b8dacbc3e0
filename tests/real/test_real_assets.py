"""Real data assets on real Dagster and a private loopback Hub.

One world (an sd1 zoo model at 64 px, the same model at 128 px, the demo photos as a Hub
dataset repo) run through the assets: reals come at both fake sizes through the same
encoder, rows carry photo ids and sides, prompts never hold a test caption, the shortcut
audit passes. Plus: one corrupt photo in a folder never fails `real_photos`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from PIL import Image

from fakeimg_assets.splits.sides import photo_side
from tests.helpers.images import colour_photo, png_bytes

# ---- assets on real Dagster, a private loopback Hub


def _resources(home: Path, endpoint: str) -> dict:
    from fakeimg_assets.definitions import build_resources
    from resources import ComputeResource

    return build_resources(home=str(home), endpoint=endpoint,
                           compute=ComputeResource(device="cpu", batch_size=2))


def test_one_corrupt_photo_never_fails_real_photos(home: Path, tmp_path: Path) -> None:
    from fakeimg_assets.real.assets import real_photos
    from fakeimg_assets.warehouse.store import Warehouse

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "good.png").write_bytes(png_bytes(colour_photo(7)))
    (folder / "good2.jpg").write_bytes(png_bytes(colour_photo(8), "JPEG", quality=90))
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 100)
    (folder / "gray.png").write_bytes(png_bytes(np.full((80, 80, 3), 128, np.uint8)))
    cfg = {"ops": {"real_photos": {"config": {"folder": str(folder), "source_name": "mine"}}}}
    with dg.instance_for_test() as instance:
        result = dg.materialize([real_photos], resources=_resources(home, "http://127.0.0.1:9"),
                                instance=instance, run_config=cfg)
    assert result.success
    rows = {r["name"]: r for r in Warehouse(home).read("real_photos").to_dicts()}
    assert {n: r["skip_reason"] for n, r in rows.items()} == {
        "good.png": None, "good2.jpg": None, "corrupt.jpg": "unreadable", "gray.png": "grayscale"}
    assert rows["good2.jpg"]["source_format"] == "JPEG" and rows["good.png"]["source"] == "mine"
    assert (home / rows["good.png"]["path"]).read_bytes() == (folder / "good.png").read_bytes()
    assert all(r["photo_split"] == photo_side(r["photo_id"]) for r in rows.values())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """An sd1 model at 64 px and at 128 px plus the demo photos dataset, sampled end to end."""
    from fakeimg_assets.audit.assets import shortcut_audit
    from fakeimg_assets.models.assets import image_quality_stats, model_metadata, sampled_images
    from fakeimg_assets.real.assets import prompts, real_images, real_photos
    from fakeimg_assets.testbed.demo_photos import write_demo_dataset
    from fakeimg_assets.testbed.local_hub.server import HubServer
    from fakeimg_assets.testbed.zoo.build import write_repo
    from fakeimg_assets.testbed.zoo.models import sized_variant, zoo_models

    root = tmp_path_factory.mktemp("world-hub")
    home = tmp_path_factory.mktemp("world-home")
    base = next(m for m in zoo_models() if m.architecture == "sd1" and m.expect == "ok")
    models = [base, sized_variant(base, 128)]
    for m in models:
        write_repo(root, m)
    write_demo_dataset(root)
    sampling = {"ops": {"sampled_images": {"config": {"images_per_model": 4, "steps": 2}}}}
    photos_cfg = {"ops": {"real_photos": {"config": {"dataset": "fakeimg/demo-photos"}}}}
    with HubServer(root) as server, pytest.MonkeyPatch.context() as mp, \
            dg.instance_for_test() as instance:
        mp.setenv("FAKEIMG_HOME", str(home))
        res = _resources(home, server.url)
        assert dg.materialize([real_photos, prompts], resources=res, instance=instance,
                              run_config=photos_cfg).success
        instance.add_dynamic_partitions("hub_models", [m.model_id for m in models])
        for m in models:
            assert dg.materialize([model_metadata, sampled_images, image_quality_stats],
                                  partition_key=m.model_id, resources=res, instance=instance,
                                  run_config=sampling).success
        assert dg.materialize([real_images], resources=res, instance=instance).success
        first = _real_paths(home)
        again = dg.materialize([real_images], resources=res, instance=instance)
        assert again.success
        audit = dg.materialize([shortcut_audit], resources=res, instance=instance,
                               raise_on_error=False)
        yield {"home": home, "models": models, "audit": audit, "requests": server.requests,
               "first_paths": first, "again": again}


def _real_paths(home: Path) -> set[str]:
    from fakeimg_assets.warehouse.store import Warehouse

    images = Warehouse(home).read("images")
    return set(images.filter(images["label"] == "real")["path"])


@pytest.mark.slow
def test_recutting_unchanged_reals_keeps_their_files(world) -> None:
    """Splits record paths: re-running real_images with nothing new must not move files."""
    assert _real_paths(world["home"]) == world["first_paths"]
    meta = world["again"].asset_materializations_for_node("real_images")[0].metadata
    assert meta["unchanged_sources"].value == ["fakeimg--demo-photos"]
    assert all((world["home"] / p).is_file() for p in world["first_paths"])


@pytest.mark.slow
def test_reals_come_at_every_fake_size_through_the_same_encoder(world) -> None:
    from fakeimg_assets.warehouse.store import Warehouse

    wh = Warehouse(world["home"])
    images = wh.read("images")
    fakes, reals = images.filter(images["label"] == "fake"), images.filter(images["label"] == "real")
    fake_sizes = set(zip(fakes["width"], fakes["height"], strict=True))
    real_sizes = set(zip(reals["width"], reals["height"], strict=True))
    assert fake_sizes == {(64, 64), (128, 128)}  # two native sizes, from two zoo models
    assert real_sizes == fake_sizes
    for (w, h) in fake_sizes:  # as many reals as fakes per size by default
        n_fake = fakes.filter((fakes["width"] == w) & (fakes["height"] == h)).height
        n_real = reals.filter((reals["width"] == w) & (reals["height"] == h)).height
        assert n_real == n_fake
    assert set(reals["format"]) == set(fakes["format"]) == {"PNG"}
    assert set(reals["mode"]) == {"RGB"} and reals["post"].null_count() == reals.height
    assert fakes["post"].null_count() == fakes.height
    photos = {r["photo_id"]: r for r in wh.read("real_photos").to_dicts()}
    for r in reals.iter_rows(named=True):
        assert r["photo_split"] == photo_side(r["photo_id"]) == photos[r["photo_id"]]["photo_split"]
        with Image.open(world["home"] / r["path"]) as im:
            assert (im.format, im.mode, im.size) == ("PNG", "RGB", (r["width"], r["height"]))
            assert not im.info.get("exif") and not im.info.get("icc_profile")
            crop = np.asarray(im)
        # a crop is the photo's pixels at native resolution, not resampled
        x, y, w, h = (int(v) for v in r["origin"].split("#crop=")[1].split(","))
        with Image.open(world["home"] / photos[r["photo_id"]]["path"]) as ph:
            assert np.array_equal(np.asarray(ph.convert("RGB"))[y:y + h, x:x + w], crop)
    stats = wh.read("image_stats")
    assert set(reals["image_id"]) <= set(stats["image_id"])


@pytest.mark.slow
def test_demo_photos_come_from_the_hub_dataset_repo(world) -> None:
    from fakeimg_assets.warehouse.store import Warehouse

    photos = Warehouse(world["home"]).read("real_photos")
    assert set(photos["source"]) == {"fakeimg--demo-photos"}
    assert set(photos["source_kind"]) == {"hub_dataset"}
    reasons = dict(photos.group_by("skip_reason").len().iter_rows())
    assert reasons == {None: 8, "grayscale": 8, "duplicate": 1}
    paths = [r.path for r in world["requests"]]
    assert any(p.startswith("/api/datasets/fakeimg/demo-photos") for p in paths)
    resolves = [p for p in paths if p.startswith("/datasets/fakeimg/demo-photos/resolve/")]
    assert resolves and not any("*" in p for p in resolves)


@pytest.mark.slow
def test_prompts_hold_only_training_side_captions(world) -> None:
    from fakeimg_assets.warehouse.store import Warehouse

    wh = Warehouse(world["home"])
    photos = wh.read("real_photos").filter(pl_col_eq("status", "kept"))
    test_caps = set(photos.filter(pl_col_eq("photo_split", "test"))["caption"])
    pool = wh.read("prompts")
    assert test_caps and pool.height > 0
    assert not set(pool["prompt"]) & test_caps
    assert set(pool["origin"]) == {"train_photos"}
    fakes = wh.read("images").filter(pl_col_eq("label", "fake"))
    assert not set(fakes["prompt"]) & test_caps  # nor did any fake get one


def pl_col_eq(name: str, value: str):  # -> pl.Expr
    import polars as pl

    return pl.col(name) == value


@pytest.mark.slow
def test_shortcut_audit_passes_on_matched_classes(world) -> None:
    from fakeimg_assets.audit.assets import CHECK_NAME
    from fakeimg_assets.warehouse.store import Warehouse

    audit = world["audit"]
    checks = audit.get_asset_check_evaluations()
    assert [c.check_name for c in checks] == [CHECK_NAME]
    rows = Warehouse(world["home"]).read("shortcut_audit")
    meta = rows.filter(pl_col_eq("feature_set", "metadata")).row(0, named=True)
    print("audit", rows.select("feature_set", "auc", "auc_ci_low", "auc_ci_high", "classifier"))
    assert checks[0].passed, checks[0].description
    assert meta["auc"] <= 0.65 and meta["auc_ci_low"] <= meta["auc"] <= meta["auc_ci_high"]


def test_hub_serves_dataset_repos_to_the_real_client(tmp_path: Path) -> None:
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import RepositoryNotFoundError

    from fakeimg_assets.real.hub_dataset import dataset_photos
    from fakeimg_assets.testbed.demo_photos import write_demo_dataset
    from fakeimg_assets.testbed.local_hub.server import HubServer
    from resources import HubResource

    repo = write_demo_dataset(tmp_path / "hub")
    # a glob name: never fetched
    (repo / "images" / "star*.png").write_bytes(png_bytes(colour_photo(9)))
    with HubServer(tmp_path / "hub") as server:
        api = HfApi(endpoint=server.url, token=False)
        info = api.dataset_info("fakeimg/demo-photos", files_metadata=True)
        files = {s.rfilename: s for s in info.siblings}
        astronaut = (repo / "images" / "astronaut.png").read_bytes()
        assert files["images/astronaut.png"].lfs.sha256 == hashlib.sha256(astronaut).hexdigest()
        assert "metadata.csv" in files and len(info.sha) == 40
        tree = {e.path for e in api.list_repo_tree("fakeimg/demo-photos", repo_type="dataset",
                                                   recursive=True)}
        assert "images/coffee.png" in tree
        got = hf_hub_download("fakeimg/demo-photos", "images/coffee.png", repo_type="dataset",
                              endpoint=server.url, cache_dir=tmp_path / "cache", token=False)
        assert Path(got).read_bytes() == (repo / "images" / "coffee.png").read_bytes()
        assert list(api.list_models()) == []  # ROOT/datasets is not a model org
        with pytest.raises(RepositoryNotFoundError):
            api.dataset_info("fakeimg/nope")
        with pytest.raises(RepositoryNotFoundError):
            api.model_info("fakeimg/demo-photos")
        hub = HubResource(endpoint=server.url, cache_dir=str(tmp_path / "cache2"))
        photos = {p.name: p for p in dataset_photos(hub, "fakeimg/demo-photos")}
        requested = [r.path for r in server.requests]
    assert photos["images/astronaut.png"].caption.startswith("a portrait of an astronaut")
    assert photos["images/star*.png"].error.startswith("unsafe file name: glob")
    assert not any("star" in p for p in requested)
    assert len([p for p in photos.values() if p.data]) == 17


@pytest.mark.parametrize("times", [1, 2])
def test_dataset_files_are_sha256_verified_with_one_refetch(tmp_path: Path, times: int) -> None:
    """A corrupted photo is re-fetched once; corrupted twice, the download fails naming it."""
    from fakeimg_assets.lib.errors import DownloadVerificationError
    from fakeimg_assets.real.hub_dataset import dataset_snapshot
    from fakeimg_assets.testbed.demo_photos import write_demo_dataset
    from fakeimg_assets.testbed.local_hub.server import FaultPlan, HubServer
    from resources import HubResource

    write_demo_dataset(tmp_path / "hub")
    plan = FaultPlan({"corrupt": 1.0}, seed=0, times=times)
    with HubServer(tmp_path / "hub", faults=plan) as server:
        hub = HubResource(endpoint=server.url, cache_dir=str(tmp_path / "cache"))
        if times == 1:
            folder, _, _ = dataset_snapshot(hub, "fakeimg/demo-photos")
            data = (folder / "images" / "astronaut.png").read_bytes()
            assert data == (tmp_path / "hub/datasets/fakeimg/demo-photos/images/astronaut.png"
                            ).read_bytes()
            assert server.fault_counts.get("corrupt", 0) == 16  # each distinct photo blob, once
        else:
            with pytest.raises(DownloadVerificationError, match="sha256 expected"):
                dataset_snapshot(hub, "fakeimg/demo-photos")
