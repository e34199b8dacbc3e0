"""Layer 3: the whole graph on the tiny zoo, the way `fakeimg run` does it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from fakeimg_assets.studies.scaling import scaling_sizes
from fakeimg_assets.summary import summarize

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def platform_home(demo_home: tuple, hub_url: str):
    """The session's demo-like home (tests/conftest.py: also read by the docs' queries),
    with the environment `fakeimg run` had while these tests read it."""
    home, report = demo_home
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_ENDPOINT", hub_url)
    mp.setenv("FAKEIMG_HOME", str(home))
    mp.setenv("DAGSTER_HOME", str(home / "dagster"))
    yield home, report
    mp.undo()


def test_run_samples_every_healthy_model_and_records_failures(platform_home, zoo_catalog) -> None:
    home, report = platform_home
    assert report.ok, report
    healthy = {m.model_id for m in zoo_catalog if m.expect in ("ok", "quarantine") and not m.gated}
    broken = {m.model_id for m in zoo_catalog if m.expect == "failure" and not m.gated}
    assert set(report.sampled) == healthy
    assert set(report.refused) == broken and report.failed == {}, report  # refusals by design
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM hub_models").fetchall()[0][0] == len(zoo_catalog)
    per_model = dict(con.sql("SELECT model_id, n_images FROM model_stats").fetchall())
    outside = {"collection--demo-outside/demo-dcgan", "collection--demo-outside/demo-pixel-ddpm"}
    assert per_model == {m: 6 for m in healthy} | dict.fromkeys(outside, 8)  # + the collection
    quarantined = {r[0] for r in con.sql("SELECT model_id FROM model_stats WHERE quarantined").fetchall()}
    assert quarantined == {m.model_id for m in zoo_catalog if m.expect == "quarantine"}
    failed = {r[0] for r in con.sql("SELECT DISTINCT model_id FROM model_failures").fetchall()}
    assert failed == broken
    archs = {r[0] for r in con.sql("SELECT DISTINCT architecture FROM model_metadata").fetchall()}
    assert {"sd1", "sdxl", "sd3", "pixart"} <= archs
    # every image row points at an existing file with the recorded hash
    for path, sha in con.sql("SELECT path, sha256 FROM images").fetchall():
        from fakeimg_assets.lib.paths import sha256_file

        assert sha256_file(home / path) == sha


def test_detector_is_trained_and_evaluated_on_held_out_generators(platform_home) -> None:
    home, _ = platform_home
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    run_id, ckpt, n_models = con.execute(
        "SELECT run_id, checkpoint_path, n_train_models FROM detector_runs WHERE purpose = 'main'"
    ).fetchall()[0]
    assert (Path(ckpt) / "model.safetensors").exists() and n_models >= 2
    train_models = set(con.sql(
        "SELECT DISTINCT source FROM detector_splits WHERE split='train' AND label='fake'"
    ).fetchall())
    test_models = set(con.sql(
        "SELECT DISTINCT source FROM detector_splits WHERE split='test' AND label='fake'"
    ).fetchall())
    assert train_models and test_models and not (train_models & test_models)
    overall = con.execute(
        "SELECT ap, accuracy, auc, n_real, n_fake FROM eval_results "
        "WHERE run_id = ? AND split = 'test' AND group_kind = 'overall'", [run_id]
    ).fetchall()[0]
    ap, acc, auc, n_real, n_fake = overall
    assert n_real > 0 and n_fake > 0 and 0.0 <= ap <= 1.0 and 0.0 <= acc <= 1.0
    kinds = {r[0] for r in con.sql(
        "SELECT DISTINCT group_kind FROM eval_results WHERE run_id = ?", params=[run_id]
    ).fetchall()}
    assert {"overall", "model", "architecture", "family_group", "time_bucket"} <= kinds
    outside = con.sql(  # the demo collection, an outside set: scored, never trained on
        "SELECT DISTINCT eval_set FROM eval_results WHERE run_id = ? AND protocol = 'external'",
        params=[run_id]).fetchall()
    assert outside == [("demo-outside",)]
    held = {r[0] for r in con.sql(
        "SELECT group_value FROM eval_results WHERE run_id = ? AND group_kind = 'model' "
        "AND protocol = 'held_out_models'",
        params=[run_id],
    ).fetchall()}
    assert held == {m for (m,) in test_models}
    per_k = con.sql(
        "SELECT n_train_models, count(*), count(DISTINCT n_train_fake), "
        "count(DISTINCT train_models) FROM scaling_results WHERE NOT control GROUP BY 1 ORDER BY 1"
    ).fetchall()
    ks = [k for k, *_ in per_k]
    assert len(ks) >= 2 and ks == scaling_sizes(ks[-1])  # 1, 2, 4, ..., all
    *smaller, whole = per_k
    # >= 3 draws per k, each a distinct subset; the whole pool is one subset, trained once
    assert all(n >= 3 and distinct == n for _, n, _, distinct in smaller), per_k
    assert whole[1] == 1, per_k
    assert per_k[0][3] >= 3  # k = 1 draws use different models
    assert con.sql(  # one fake budget for every k
        "SELECT count(DISTINCT n_train_fake) FROM scaling_results WHERE NOT control"
    ).fetchall()[0][0] == 1
    assert con.sql("SELECT count(*) FROM scaling_results WHERE control").fetchall()[0][0] >= 1
    held, unseen = con.sql(
        "SELECT any_value(n_heldout_models), any_value(unseen_families) FROM scaling_results"
    ).fetchall()[0]
    assert held >= 1 and len(unseen) >= 1  # one fixed held-out set with an unseen family


def test_dagster_instance_shows_every_asset_and_partition(platform_home) -> None:
    home, report = platform_home
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    partitions = set(instance.get_dynamic_partitions("hub_models"))
    assert set(report.sampled) <= partitions
    for key in ("hub_catalog", "real_images", "prompts", "detector_dataset", "detector",
                "detector_evaluation", "scaling_study"):
        assert instance.get_latest_materialization_event(dg.AssetKey(key)) is not None, key
    for key in ("model_metadata", "sampled_images", "image_quality_stats"):
        mats = instance.get_materialized_partitions(dg.AssetKey(key))
        assert set(report.sampled) <= mats, key


def test_summary_reads_back_from_duckdb(platform_home) -> None:
    home, _ = platform_home
    text = summarize(home)
    assert "models crawled:" in text and "quarantined models: 1" in text
    assert "held-out generators" in text and "scaling study" in text


def test_an_image_regenerates_byte_exact(platform_home, hub_url: str) -> None:
    from fakeimg_assets.sampling.regenerate import regenerate_image
    from resources import HubResource

    home, _ = platform_home
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    (image_id,) = con.execute(
        "SELECT image_id FROM images WHERE label='fake' AND image_index = 3 "
        "AND architecture = 'sdxl' LIMIT 1"
    ).fetchall()[0]
    (recorded,) = con.execute(
        "SELECT torch_threads FROM images WHERE image_id = ?", [image_id]).fetchall()[0]
    assert recorded is not None and recorded >= 1
    hub = HubResource(endpoint=hub_url, cache_dir=str(home / "hf-cache"))
    import torch

    before = torch.get_num_threads()
    other = 2 if recorded == 1 else 1  # CPU bytes differ between counts: regenerate must
    torch.set_num_threads(other)       # sample at the recorded one, not the process's
    try:
        result = regenerate_image(image_id, home=home, hub=hub)
        assert torch.get_num_threads() == other  # and give the process its count back
    finally:
        torch.set_num_threads(before)
    assert result.identical, (result.recorded_sha256, result.regenerated_sha256)
    with pytest.raises(ValueError, match="real image"):
        (real_id,) = con.execute("SELECT image_id FROM images WHERE label='real' LIMIT 1").fetchall()[0]
        regenerate_image(real_id, home=home, hub=hub)
