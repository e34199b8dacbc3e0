"""Layer 1: pure functions (no Dagster run, no network, no torch)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from fakeimg_assets.catalog.selection import (
    SelectionPolicy,
    merge_catalog,
    rejection_reason,
    select_models,
)
from fakeimg_assets.lib.paths import InvalidModelIdError, derive_seed, model_slug, slug_to_model_id
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.quality.stats import duplicate_fraction, image_measures, model_aggregate
from fakeimg_assets.sampling.plan import plan_download
from fakeimg_assets.sampling.recipes import UnknownRecipeError, get_recipe, recipe_for_pipeline
from fakeimg_assets.sampling.sample import image_requests
from fakeimg_assets.sampling.types import UnsafeRepoError
from fakeimg_assets.splits.splits import (
    default_scaling_sizes,
    nested_subsets,
    time_bucket,
)
from fakeimg_assets.warehouse.schemas import all_relations, schema_of, to_frame
from fakeimg_assets.warehouse.store import Warehouse

# -- ids and seeds ----------------------------------------------------------------------


def test_model_slug_round_trip() -> None:
    assert model_slug("stabilityai/sd-turbo.v2") == "stabilityai--sd-turbo.v2"
    assert slug_to_model_id("stabilityai--sd-turbo.v2") == "stabilityai/sd-turbo.v2"


@pytest.mark.parametrize("bad", ["noslash", "a/b/c", "a--b/c", "../etc", "a/..b", "", "a/ b", "/x"])
def test_invalid_model_ids_are_named(bad: str) -> None:
    with pytest.raises(InvalidModelIdError, match="invalid Hugging Face model id"):
        model_slug(bad)


def test_seeds_are_stable_and_distinct() -> None:
    assert derive_seed("a/b", "image", 0) == derive_seed("a/b", "image", 0)
    assert derive_seed("a/b", "image", 0) != derive_seed("a/b", "image", 1)
    assert 0 <= derive_seed("x") < 2**31
    # a fixed value guards against an accidental change of the derivation
    assert derive_seed("org/model", "image", 0) == derive_seed("org/model", "image", 0)


def test_image_requests_deterministic_and_cycle_prompts() -> None:
    pool = [("p1", "a cat"), ("p2", "a dog"), ("p3", "a car")]
    a = image_requests("org/m", 5, pool)
    assert a == image_requests("org/m", 5, pool)
    assert [r.index for r in a] == list(range(5))
    assert {r.prompt for r in a[:3]} == {"a cat", "a dog", "a car"}
    assert [r.seed for r in a] != [r.seed for r in image_requests("org/other", 5, pool)]
    with pytest.raises(ValueError, match="prompt pool is empty"):
        image_requests("org/m", 2, [])


# -- recipes and download plans ---------------------------------------------------------

SD_INDEX = {
    "_class_name": "StableDiffusionPipeline",
    "_diffusers_version": "0.42.1",
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "scheduler": ["diffusers", "PNDMScheduler"],
    "safety_checker": [None, None],
    "feature_extractor": [None, None],
}
SD_FILES = {
    "model_index.json": 500,
    "README.md": 900,
    "model.ckpt": 9000,
    "unet/config.json": 100,
    "unet/diffusion_pytorch_model.safetensors": 4000,
    "unet/diffusion_pytorch_model.fp16.safetensors": 2000,
    "unet/diffusion_pytorch_model.bin": 4100,
    "vae/config.json": 100,
    "vae/diffusion_pytorch_model.safetensors": 3000,
    "text_encoder/config.json": 100,
    "text_encoder/model.safetensors": 2000,
    "text_encoder/pytorch_model.bin": 2100,
    "tokenizer/vocab.json": 50,
    "tokenizer/merges.txt": 50,
    "tokenizer/tokenizer_config.json": 50,
    "scheduler/scheduler_config.json": 50,
    "safety_checker/model.safetensors": 99999,
}


def test_recipe_registry_fails_loudly() -> None:
    assert get_recipe("sd1").architecture == "sd1"
    with pytest.raises(UnknownRecipeError, match="unknown sampling recipe 'nope'.*known: "):
        get_recipe("nope")
    with pytest.raises(UnknownRecipeError, match="no sampling recipe for pipeline class 'Foo'"):
        recipe_for_pipeline("Foo")
    with pytest.raises(UnknownRecipeError, match="remote code"):
        recipe_for_pipeline(["pipeline", "EvilPipeline"])


def test_plan_downloads_only_needed_safetensors() -> None:
    plan = plan_download(SD_INDEX, SD_FILES, model_id="o/m")
    assert plan.variant is None
    assert "unet/diffusion_pytorch_model.safetensors" in plan.files
    for skipped in (
        "model.ckpt",
        "unet/diffusion_pytorch_model.bin",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "text_encoder/pytorch_model.bin",
        "safety_checker/model.safetensors",
        "README.md",
    ):
        assert skipped not in plan.files and skipped in plan.skipped
    assert plan.downloaded_bytes == 500 + 100 + 4000 + 100 + 3000 + 100 + 2000 + 150 + 50
    assert plan.repo_bytes == sum(SD_FILES.values())
    assert plan.architecture == "sd1"


def test_plan_falls_back_to_fp16_variant_only_when_complete() -> None:
    files = {k: v for k, v in SD_FILES.items() if not k.endswith("diffusion_pytorch_model.safetensors")}
    files["vae/diffusion_pytorch_model.fp16.safetensors"] = 1500
    files["text_encoder/model.fp16.safetensors"] = 1000
    plan = plan_download(SD_INDEX, files)
    assert plan.variant == "fp16"
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in plan.files


def test_plan_refuses_pickle_only_component() -> None:
    files = {k: v for k, v in SD_FILES.items() if k != "unet/diffusion_pytorch_model.safetensors"}
    files.pop("unet/diffusion_pytorch_model.fp16.safetensors")
    with pytest.raises(UnsafeRepoError, match="'unet' has no safetensors weights.*never unpickles"):
        plan_download(SD_INDEX, files, model_id="o/m")


def test_plan_refuses_custom_code_and_untrusted_libraries() -> None:
    with pytest.raises(UnsafeRepoError, match="remote code"):
        plan_download({**SD_INDEX, "_class_name": ["pipeline", "Evil"]}, SD_FILES)
    with pytest.raises(UnsafeRepoError, match="comes from 'evil_lib'"):
        plan_download({**SD_INDEX, "unet": ["evil_lib", "Net"]}, SD_FILES)
    with pytest.raises(UnsafeRepoError, match="no model_index.json"):
        plan_download(SD_INDEX, {"unet/config.json": 1})


def test_plan_never_downloads_code_files() -> None:
    files = {**SD_FILES, "unet/modeling.py": 10}
    assert "unet/modeling.py" not in plan_download(SD_INDEX, files).files


# -- quality stats ----------------------------------------------------------------------


def test_image_measures_black_constant_and_noise() -> None:
    black = np.zeros((32, 32, 3), np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    b, n = image_measures(black), image_measures(noise)
    assert b["is_black"] and b["is_constant"] and b["entropy"] == 0.0
    assert not n["is_black"] and not n["is_constant"] and n["entropy"] > 6
    assert len(b["dhash"]) == 16


def test_duplicate_fraction() -> None:
    assert duplicate_fraction(["a", "a", "b", "c"]) == 0.5
    assert duplicate_fraction(["a", "b"]) == 0.0
    assert duplicate_fraction([]) == 0.0


def test_model_aggregate_quarantines_black_models() -> None:
    black = [image_measures(np.zeros((16, 16, 3), np.uint8)) for _ in range(4)]
    agg = model_aggregate(black)
    assert agg["quarantined"] and "black" in agg["quarantine_reason"]
    assert agg["duplicate_fraction"] == 1.0
    rng = np.random.default_rng(1)
    good = [image_measures(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)) for _ in range(4)]
    assert not model_aggregate(good)["quarantined"]
    corrupt = [{**g, "sha256_ok": False} for g in good]
    assert "sha256" in model_aggregate(corrupt)["quarantine_reason"]


# -- selection ------------------------------------------------------------------------


def test_selection_policy() -> None:
    rows = [
        {"model_id": "a/new", "gated": "false", "library_name": "diffusers"},
        {"model_id": "a/gated", "gated": "auto"},
        {"model_id": "a/private", "private": True},
        {"model_id": "a/known"},
        {"model_id": "a/new", "gated": "false"},
        {"model_id": "a/other", "library_name": "transformers"},
    ]
    assert select_models(rows, {"a/known"}, SelectionPolicy()) == ["a/new"]
    assert rejection_reason(rows[1], SelectionPolicy()) == "gated (auto)"
    assert select_models(rows, set(), SelectionPolicy(allow_gated=True), limit=2) == [
        "a/new",
        "a/gated",
    ]


def test_merge_catalog_keeps_first_seen() -> None:
    t0, t1 = utcnow(), utcnow() + dt.timedelta(days=1)
    first = merge_catalog([], [{"model_id": "a/b", "likes": 1}], t0)
    second = merge_catalog(first, [{"model_id": "a/b", "likes": 5}, {"model_id": "c/d"}], t1)
    by_id = {r["model_id"]: r for r in second}
    assert by_id["a/b"]["first_seen_at"] == t0 and by_id["a/b"]["last_seen_at"] == t1
    assert by_id["a/b"]["likes"] == 5 and by_id["c/d"]["first_seen_at"] == t1


# -- splits -------------------------------------------------------------------------------


def test_time_buckets() -> None:  # side assignment itself: tests/test_splits.py
    assert time_bucket(dt.datetime(2024, 7, 1)) == "2024-H2"
    assert time_bucket(None) == "unknown"


def test_nested_subsets() -> None:
    items = [f"o/m{i}" for i in range(8)]
    subsets = nested_subsets(items, default_scaling_sizes(8))
    assert list(subsets) == [1, 2, 4, 8]
    for small, big in zip([1, 2, 4], [2, 4, 8], strict=True):
        assert set(subsets[small]) <= set(subsets[big])
    assert default_scaling_sizes(6) == [1, 2, 4, 6]
    with pytest.raises(ValueError, match="out of range"):
        nested_subsets(items, [9])


# -- warehouse ---------------------------------------------------------------------------


def test_to_frame_rejects_unknown_columns() -> None:
    with pytest.raises(ValueError, match="has no column"):
        to_frame("model_stats", [{"model_id": "a/b", "typo_column": 1}])
    with pytest.raises(KeyError, match="unknown warehouse relation"):
        to_frame("nope", [])


def test_warehouse_partition_replace_and_views(tmp_path) -> None:
    import duckdb

    wh = Warehouse(tmp_path)
    assert wh.query("SELECT count(*) AS n FROM images")["n"][0] == 0
    wh.write("model_stats", "a--b", [{"model_id": "a/b", "n_images": 3, "quarantined": False}])
    wh.write("model_stats", "a--b", [{"model_id": "a/b", "n_images": 4, "quarantined": False}])
    wh.write("model_stats", "c--d", [{"model_id": "c/d", "n_images": 1, "quarantined": True}])
    assert wh.ensure_views()
    con = duckdb.connect(str(wh.database_path), read_only=True)
    rows = con.sql("SELECT model_id, n_images FROM model_stats ORDER BY model_id").fetchall()
    assert rows == [("a/b", 4), ("c/d", 1)]
    for relation in all_relations():  # every view (storage tables, unions) with its columns
        cols = [r[0] for r in con.sql(f"DESCRIBE {relation}").fetchall()]
        assert cols == list(schema_of(relation)), relation
    con.close()
    assert not list((tmp_path / "parquet" / "model_stats").glob(".*.tmp"))
    assert isinstance(wh.read("model_stats"), pl.DataFrame)


CONTRACT_COLUMNS = {
    "hub_models": "model_id, sha, created_at, last_modified, downloads, likes, pipeline_tag, "
    "library_name, license, first_seen_at, last_seen_at",
    "model_metadata": "model_id, revision, pipeline_class, architecture, license, repo_bytes, "
    "downloaded_bytes",
    "images": "image_id, label, source, path, sha256, width, height, format, prompt, seed, steps, "
    "guidance_scale, scheduler, revision",
    "image_stats": "image_id, source",
    "model_stats": "model_id, n_images, black_fraction, duplicate_fraction, quarantined, "
    "quarantine_reason",
    "model_failures": "model_id, asset, stage, error_type, message, transient, failed_at",
    "detector_runs": "run_id, backbone, n_train_models, n_train_images, created_at, checkpoint_path",
    "eval_results": "run_id, split, group_kind, group_value, n_real, n_fake, ap, accuracy, auc",
    "scaling_results": "run_id, n_train_models, n_train_images, ap, accuracy",
}


@pytest.mark.parametrize("relation", sorted(CONTRACT_COLUMNS))
def test_contract_columns_exist(relation: str) -> None:
    wanted = [c.strip() for c in CONTRACT_COLUMNS[relation].split(",")]
    missing = [c for c in wanted if c not in schema_of(relation)]
    assert not missing, f"{relation} lacks contract columns {missing}"



def test_contact_sheet_is_a_file_tiled_from_the_images(tmp_path: Path) -> None:
    import io

    from PIL import Image

    from fakeimg_assets.models.preview import write_contact_sheet

    def png(colour: tuple[int, int, int]) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), colour).save(buf, format="PNG")
        return buf.getvalue()

    path = write_contact_sheet(tmp_path, "fake", "org--m", [png((255, 0, 0))] * 9 + [png((0, 0, 255))])
    assert path == tmp_path / "previews" / "fake" / "org--m.png"
    sheet = Image.open(path)
    assert sheet.size == (8 * 64, 2 * 64)  # 8 per row, 10 images -> 2 rows
    assert sheet.getpixel((64 + 5, 64 + 5)) == (0, 0, 255)  # the 10th tile, row 2 col 2
    assert write_contact_sheet(tmp_path, "fake", "empty", []) is None
    with pytest.raises(ValueError, match="plain file name"):
        write_contact_sheet(tmp_path, "fake", "../escape", [png((0, 0, 0))])
    assert not list((tmp_path / "previews" / "fake").glob(".*"))  # no temp files left
