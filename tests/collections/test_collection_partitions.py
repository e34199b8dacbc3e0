"""A collection's generators as `hub_models` partitions, through the real assets.

A home with synthetic, learnable images (tests/helpers/learnable_home.py) gets folder
collections staged for real; their partitions run `model_metadata`, `sampled_images` and
`image_quality_stats`; the audit catches a collection whose fakes are JPEG while its reals
are PNG and the split leaves it out; a role-'eval' collection never enters a split and is
scored as an outside set ('external') with AP per family group.
"""

from __future__ import annotations

import csv
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from tests.helpers.learnable_home import learnable_home


def write_folder(root: Path, generators: dict[str, str], *, fake_format: str = "PNG",
                 n_fake: int = 10, n_real: int = 10, seed: int = 0) -> Path:
    """A folder source: `{generator: family}` sub-folders of learnable fakes, a `real/`
    folder (unless n_real is 0) and generators.csv."""
    from fakeimg_assets.detection.synthetic import synthetic_image

    rng = np.random.default_rng(seed)
    for gen in generators:
        (root / gen).mkdir(parents=True)
        for k in range(n_fake):
            ext = "jpg" if fake_format == "JPEG" else "png"
            synthetic_image(1, rng).save(root / gen / f"{k:03d}.{ext}", format=fake_format)
    if n_real:
        (root / "real").mkdir()
        for k in range(n_real):
            synthetic_image(0, rng).save(root / "real" / f"r{k:03d}.png", format="PNG")
    with open(root / "generators.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["generator", "family", "architecture", "release_date", "license"])
        for gen, family in generators.items():
            w.writerow([gen, family, f"{family}-net", "2024-06-01", "mit"])
    return root


def _materialize(assets, resources, instance, *, partition=None, config=None, ok=True):
    result = dg.materialize(assets, resources=resources, instance=instance, partition_key=partition,
                            run_config=config or {}, raise_on_error=False)
    assert result.success == ok, result
    return result


def ingest(home: Path, resources: dict, instance, source: Path, name: str, role: str) -> list[str]:
    """Stage `source` and run the collection's assets; returns its partition keys."""
    from fakeimg_assets.collections.assets import collection_reals, image_collections
    from fakeimg_assets.collections.stage import stage_collection
    from fakeimg_assets.lib.paths import collection_key
    from fakeimg_assets.models.assets import image_quality_stats, model_metadata, sampled_images
    from fakeimg_assets.partitions import HUB_MODELS_PARTITIONS_NAME

    manifest = stage_collection(home, str(source), name=name, role=role, log=lambda m: None)
    keys = [collection_key(name, g.generator) for g in manifest.generators]
    instance.add_dynamic_partitions(HUB_MODELS_PARTITIONS_NAME, keys)
    _materialize([image_collections, collection_reals], resources, instance)
    for key in keys:
        _materialize([model_metadata, sampled_images, image_quality_stats], resources, instance,
                     partition=key)
    return keys


@pytest.fixture
def world(tmp_path: Path):
    home, resources = learnable_home(tmp_path, n_models=6)
    with dg.instance_for_test() as instance:
        yield home, resources, instance, tmp_path


def test_collection_generators_are_partitions_like_hub_models(world) -> None:
    from fakeimg_assets.warehouse.store import Warehouse

    home, resources, instance, tmp = world
    src = write_folder(tmp / "src", {"style-gan": "gan", "pixel ddpm": "pixel diffusion"})
    keys = ingest(home, resources, instance, src, "outside", "train")
    assert keys == ["collection--outside/style-gan", "collection--outside/pixel-ddpm"] or \
        sorted(keys) == sorted(["collection--outside/style-gan", "collection--outside/pixel-ddpm"])
    wh = Warehouse(home)
    meta = wh.query("SELECT * FROM model_metadata WHERE kind = 'collection' ORDER BY model_id")
    assert meta["model_id"].to_list() == sorted(keys)
    assert dict(zip(meta["model_id"], meta["family_group"], strict=True)) == {
        "collection--outside/pixel-ddpm": "pixel_diffusion",
        "collection--outside/style-gan": "gan"}
    assert set(meta["collection"]) == {"outside"} and set(meta["license"]) == {"mit"}
    fakes = wh.query("SELECT * FROM images WHERE label = 'fake' AND source LIKE 'collection--%'")
    assert fakes.height == 20 and set(fakes["format"]) == {"PNG"}
    for path in fakes["path"]:
        assert (home / path).is_file() and path.startswith("images/fake/collection--outside--")
    reals = wh.query("SELECT * FROM images WHERE source = 'collection--outside'")
    assert reals.height == 10 and set(reals["label"]) == {"real"}
    stats = wh.query("SELECT * FROM model_stats WHERE model_id LIKE 'collection--%'")
    assert stats.height == 2 and not stats["quarantined"].any()
    rows = wh.read("collections").sort("generator")
    assert rows["role"].to_list() == ["train", "train"]
    assert rows["generator_name"].to_list() == ["pixel ddpm", "style-gan"]
    assert rows["n_real"].to_list() == [10, 10]


def test_the_audit_catches_jpeg_fakes_and_the_split_leaves_them_out(world) -> None:
    from fakeimg_assets.audit.assets import shortcut_audit
    from fakeimg_assets.splits.assets import detector_dataset
    from fakeimg_assets.warehouse.store import Warehouse

    home, resources, instance, tmp = world
    ingest(home, resources, instance, write_folder(tmp / "ok", {"gan-a": "gan", "gan-b": "gan"}),
           "clean", "train")
    ingest(home, resources, instance, write_folder(
        tmp / "jpeg", {"mj": "commercial", "dalle": "commercial"}, fake_format="JPEG", seed=1),
        "scraped", "train")
    _materialize([shortcut_audit], resources, instance)  # passes: the caught one is left out
    wh = Warehouse(home)
    audit = wh.read("shortcut_audit").filter(pl.col("feature_set") == "metadata")
    by_scope = {r["scope"]: r for r in audit.iter_rows(named=True)}
    assert by_scope["collection:scraped"]["passed"] is False
    assert by_scope["collection:scraped"]["auc"] > 0.9
    assert "jpeg" in by_scope["collection:scraped"]["top_features"].lower()  # what gave it away
    assert by_scope["collection:clean"]["passed"] is True
    assert by_scope["all"]["passed"] is True  # the caught collection does not block the rest
    fakes = wh.query("SELECT count(*) AS n FROM images WHERE label = 'fake' "
                     "AND source NOT LIKE 'collection--scraped/%'")["n"][0]
    assert by_scope["all"]["n_fake"] == fakes  # ... because it is left out of the blocking one
    event = instance.get_latest_materialization_event(dg.AssetKey("shortcut_audit"))
    assert list(event.asset_materialization.metadata["collections_failed"].value) == ["scraped"]
    _materialize([detector_dataset], resources, instance)
    split = wh.read("detector_splits")
    assert "scraped" not in set(split["collection"].drop_nulls())
    assert {"clean"} == set(split["collection"].drop_nulls())
    assert not split.filter(pl.col("source").str.starts_with("collection--scraped")).height
    event = instance.get_latest_materialization_event(dg.AssetKey("detector_dataset"))
    excluded = event.asset_materialization.metadata["excluded_collections"].value
    assert set(excluded) == {"scraped"} and "shortcut audit" in excluded["scraped"]
    fam = split.filter(pl.col("label") == "fake").select("source", "family_group").unique()
    groups = dict(fam.iter_rows())
    assert groups["collection--clean/gan-a"] == "gan"
    assert set(groups.values()) >= {"gan"}


@pytest.mark.slow
def test_an_eval_collection_is_scored_as_an_outside_set_never_trained_on(world) -> None:
    from fakeimg_assets.audit.assets import shortcut_audit
    from fakeimg_assets.detection.assets import detector
    from fakeimg_assets.evaluation.assets import detector_evaluation
    from fakeimg_assets.splits.assets import detector_dataset
    from fakeimg_assets.warehouse.store import Warehouse

    home, resources, instance, tmp = world
    ingest(home, resources, instance, write_folder(
        tmp / "ev", {"big-gan": "gan", "adm": "pixel_diffusion"}, seed=3), "benchmark", "eval")
    _materialize([shortcut_audit, detector_dataset, detector, detector_evaluation], resources,
                 instance, config={"ops": {
                     "detector": {"config": {"epochs": 2}},
                     "detector_evaluation": {"config": {
                         "n_boot": 100, "protocols": ["held_out_models", "external"],
                         "perturbations": []}}}})  # fmt: skip
    wh = Warehouse(home)
    split = wh.read("detector_splits")
    assert not split.filter(pl.col("source").str.contains("benchmark")).height
    runs = wh.read("detector_runs")
    assert not any("benchmark" in m for ms in runs["train_models"] for m in ms)
    rows = wh.read("eval_results")
    ext = rows.filter(pl.col("protocol") == "external")
    assert set(ext["eval_set"]) == {"benchmark"}
    assert set(ext.filter(pl.col("group_kind") == "model")["group_value"]) == {
        "collection--benchmark/big-gan", "collection--benchmark/adm"}
    fam = ext.filter(pl.col("group_kind") == "family_group")
    assert set(fam["group_value"]) == {"gan", "pixel_diffusion"}
    mean = ext.filter(pl.col("group_kind") == "mean_over_models").row(0, named=True)
    assert mean["n_real"] == mean["n_fake"] == 20
    assert mean["ap_ci_low"] <= mean["ap"] <= mean["ap_ci_high"]
    held = rows.filter(pl.col("protocol") == "held_out_models")
    assert held.filter(pl.col("group_kind") == "family_group").height >= 1
    assert (rows["detector"] == rows["run_id"]).all()
