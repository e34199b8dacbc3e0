"""Split assignment as pure functions: sides, lineage groups, split ids, leak checks."""

from __future__ import annotations

import datetime as dt
import json
import math
import random

import polars as pl
import pytest

from fakeimg_assets.splits.assets import build_split
from fakeimg_assets.splits.lineage import (
    ModelLineage,
    base_model_columns,
    group_members,
    lineage_from_rows,
    lineage_groups,
    weight_sha256s_of,
)
from fakeimg_assets.splits.sides import (
    MODEL_SALT,
    PHOTO_SALT,
    hash_unit,
    model_side,
    photo_side,
    side_of,
)
from fakeimg_assets.splits.splits import (
    check_split,
    default_scaling_sizes,
    fallback_photo_id,
    model_sides,
    nested_subsets,
    photo_sides,
    split_id_of,
    time_bucket,
)

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _lone(i: int, day: int | None = None) -> ModelLineage:
    return ModelLineage(
        f"org{i}/m{i}", weight_sha256s=(f"{i:064x}",), created_at=T0 + dt.timedelta(days=day or i)
    )


# -- the side rule -------------------------------------------------------------------------


def test_every_model_on_exactly_one_side_as_the_rule_says() -> None:
    models = [_lone(i) for i in range(40)]
    sides = model_sides(models, 0.3)
    assert set(sides) == {m.model_id for m in models}
    for m in models:
        key, side = sides[m.model_id]
        assert key == m.weight_sha256s[0]
        want = "test" if hash_unit(MODEL_SALT, key) < 0.3 else "train"
        assert side == want
    n_test = sum(s == "test" for _, s in sides.values())
    assert 0 < n_test < 40


def test_threshold_edges_are_pinned() -> None:
    key = "stabilityai/stable-diffusion-3-medium-diffusers"
    u = hash_unit(MODEL_SALT, key)
    assert side_of(key, u, salt=MODEL_SALT) == "train"  # exactly at the fraction: not below
    assert side_of(key, math.nextafter(u, 1.0), salt=MODEL_SALT) == "test"  # just above
    assert side_of(key, math.nextafter(u, 0.0), salt=MODEL_SALT) == "train"  # just below
    assert model_side(key, math.nextafter(u, 1.0)) == "test"
    p = hash_unit(PHOTO_SALT, "skimage:astronaut")
    assert photo_side("skimage:astronaut", math.nextafter(p, 1.0)) == "test"
    assert photo_side("skimage:astronaut", p) == "train"
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="test fraction"):
            model_side(key, bad)
    with pytest.raises(ValueError, match="non-empty"):
        model_side("", 0.3)


def test_adding_a_model_never_moves_another() -> None:
    """The old top-k rule moved models in 13 of 25 single additions; this one in none."""
    rng = random.Random(0)
    moved = 0
    for trial in range(25):
        base = [_lone(i) for i in rng.sample(range(1000), 12)]
        before = model_sides(base, 0.34)
        newcomer = _lone(1000 + trial)
        after = model_sides([*base, newcomer], 0.34)
        moved += sum(after[m] != before[m] for m in before)
    assert moved == 0


def test_a_mirror_arriving_later_does_not_move_the_original() -> None:
    original = ModelLineage("a/orig", weight_sha256s=("aa" * 32, "bb" * 32), created_at=T0)
    later = T0 + dt.timedelta(days=30)
    mirror = ModelLineage("0-mirror/copy", weight_sha256s=("bb" * 32, "00" * 32), created_at=later)
    before = model_sides([original], 0.5)["a/orig"]
    after = model_sides([original, mirror], 0.5)
    assert after["a/orig"] == before and after["0-mirror/copy"] == before


def test_lineage_pairs_land_together() -> None:
    sha = "cd" * 32
    models = [
        ModelLineage("x/mirror-a", weight_sha256s=(sha, "01" * 32), created_at=T0),
        ModelLineage("y/mirror-b", weight_sha256s=(sha,), created_at=T0 + dt.timedelta(1)),
        ModelLineage("p/parent", weight_sha256s=("02" * 32,), created_at=T0),
        ModelLineage("c/child", base_models=("p/parent",), weight_sha256s=("03" * 32,)),
        ModelLineage("s/tune1", base_models=("sd/base",), created_at=T0),
        ModelLineage("t/tune2", base_models=("sd/base", "other/base")),
        ModelLineage("u/tune3", base_models=("other/base",)),  # linked to tune1 via tune2
        ModelLineage("z/alone", weight_sha256s=("04" * 32,)),
    ]
    groups = group_members(lineage_groups(models))
    as_sets = sorted(sorted(v) for v in groups.values())
    assert as_sets == sorted([
        ["x/mirror-a", "y/mirror-b"], ["c/child", "p/parent"],
        ["s/tune1", "t/tune2", "u/tune3"], ["z/alone"],
    ])
    assert lineage_groups(models)["s/tune1"] == "sd/base"  # earliest member's base
    assert lineage_groups(models)["c/child"] == "02" * 32  # the parent (earliest) anchors
    # every fraction: relatives always share a side
    for fraction in (0.1, 0.3, 0.5, 0.7, 0.9):
        sides = model_sides(models, fraction)
        for members in groups.values():
            assert len({sides[m][1] for m in members}) == 1
    with pytest.raises(ValueError, match="more than once"):
        lineage_groups([models[0], models[0]])


def test_weight_shas_ignore_configs_and_tokenizers() -> None:
    shas = json.dumps({
        "unet/diffusion_pytorch_model.safetensors": "aa" * 32,
        "vae/diffusion_pytorch_model.safetensors": "bb" * 32,
        "tokenizer/vocab.json": "cc" * 32,
        "text_encoder/config.json": "dd" * 32,
    })
    # the denoiser's weights link models; the family's shared VAE and CLIP do not
    assert weight_sha256s_of(shas) == ["aa" * 32]
    mirror = json.dumps({"transformer/diffusion_pytorch_model.safetensors": "ee" * 32,
                         "text_encoder_2/model.safetensors": "ff" * 32,
                         "pytorch_lora_weights.safetensors": "12" * 32})
    assert weight_sha256s_of(mirror) == ["12" * 32, "ee" * 32]
    assert weight_sha256s_of(None) == [] and weight_sha256s_of("") == []
    with pytest.raises(ValueError, match="not JSON"):
        weight_sha256s_of("{oops")
    rows = [{"model_id": "a/b", "base_models": None, "base_model": "sd/base",
             "file_sha256": shas, "created_at": T0}]
    (lin,) = lineage_from_rows(rows)
    assert lin.base_models == ("sd/base",) and len(lin.weight_sha256s) == 1


def test_base_model_columns_from_the_card() -> None:
    assert base_model_columns("sd/base") == {"base_model": "sd/base", "base_models": ["sd/base"]}
    assert base_model_columns(["b/2", "a/1"]) == {"base_model": "b/2", "base_models": ["a/1", "b/2"]}
    assert base_model_columns(None) == {"base_model": None, "base_models": []}
    assert base_model_columns(42) == {"base_model": None, "base_models": []}


# -- split ids ----------------------------------------------------------------------------


def test_split_id_names_the_content() -> None:
    pairs = [("a", "train"), ("b", "test"), ("c", "train")]
    sid = split_id_of(pairs)
    assert sid == split_id_of(reversed(pairs)) and len(sid) == 16
    assert sid != split_id_of([("a", "train"), ("b", "train"), ("c", "train")])
    assert sid != split_id_of(pairs[:2])
    with pytest.raises(ValueError, match="more than once"):
        split_id_of([*pairs, ("a", "test")])
    with pytest.raises(ValueError, match="'train' or 'test'"):
        split_id_of([("a", "val")])
    with pytest.raises(ValueError, match="empty"):
        split_id_of([])


# -- whole splits: build_split obeys the rule, check_split catches broken ones --------------


def _warehouse_rows(n_models: int = 9, n_photos: int = 12):
    models = [f"org{i}/gen{i}" for i in range(n_models)]
    fakes = pl.DataFrame({
        "image_id": [f"fake:{m}:{k}" for m in models for k in range(3)],
        "label": "fake",
        "source": [m for m in models for _ in range(3)],
        "path": "p.png",
        "architecture": "sd1",
        "created_at": [T0 for _ in models for _ in range(3)],
    })
    photos = [f"photo{j}.jpg" for j in range(n_photos)]
    reals = pl.DataFrame({
        "image_id": [f"real:demo:{p}-{k}" for p in photos for k in range(2)],
        "label": "real",
        "source": "demo",
        "path": "r.png",
        "origin": [f"{p}#crop=0,0,64,64" for p in photos for _ in range(2)],
    })
    meta = pl.DataFrame({
        "model_id": models,
        "base_models": [["shared/base"] if i < 2 else [] for i in range(n_models)],
        "file_sha256": [json.dumps({"unet/x.safetensors": f"{i:064x}"}) for i in range(n_models)],
        "created_at": [T0 + dt.timedelta(days=i) for i in range(n_models)],
    })
    return fakes, reals, meta


def test_build_split_follows_the_rule_for_every_image() -> None:
    fakes, reals, meta = _warehouse_rows()
    rows = build_split(fakes, reals, meta, 0.4, 0)
    keys = lineage_groups(lineage_from_rows(meta.iter_rows(named=True)))
    for r in rows.iter_rows(named=True):
        if r["label"] == "fake":
            assert r["group_key"] == keys[r["source"]]
            assert r["split"] == model_side(keys[r["source"]], 0.4)
        else:
            photo = fallback_photo_id("demo", r["image_id"].split(":")[2][:-2], "")
            assert r["group_key"] == photo
            assert r["split"] == photo_side(photo, 0.4)
    assert rows.filter(pl.col("source") == "org0/gen0")["split"][0] == rows.filter(
        pl.col("source") == "org1/gen1")["split"][0]  # shared base: one side
    assert set(rows["split"]) == {"train", "test"}
    check_split(rows.iter_rows(named=True), 0.4, 0)


def _first_test_model(rows: pl.DataFrame) -> str:
    return sorted(rows.filter((pl.col("label") == "fake") & (pl.col("split") == "test"))["source"])[0]


def test_first_held_out_models_fakes_labelled_train_is_caught() -> None:
    fakes, reals, meta = _warehouse_rows()
    rows = build_split(fakes, reals, meta, 0.4, 0)
    first = _first_test_model(rows)
    broken = rows.with_columns(
        pl.when(pl.col("source") == first).then(pl.lit("train")).otherwise("split").alias("split")
    )
    with pytest.raises(ValueError, match=f"model {first!r}.*labelled 'train'.*'test'"):
        check_split(broken.iter_rows(named=True), 0.4, 0)


def test_reals_train_test_swapped_is_caught() -> None:
    fakes, reals, meta = _warehouse_rows()
    rows = build_split(fakes, reals, meta, 0.4, 0)
    swapped = rows.with_columns(
        pl.when(pl.col("label") == "real")
        .then(pl.when(pl.col("split") == "train").then(pl.lit("test")).otherwise(pl.lit("train")))
        .otherwise("split")
        .alias("split")
    )
    with pytest.raises(ValueError, match="real image .* labelled"):
        check_split(swapped.iter_rows(named=True), 0.4, 0)


def test_one_crop_of_a_photo_on_the_other_side_is_caught() -> None:
    fakes, reals, meta = _warehouse_rows()
    rows = build_split(fakes, reals, meta, 0.4, 0)
    first_real = rows.filter(pl.col("label") == "real")["image_id"][0]
    flipped = rows.with_columns(
        pl.when(pl.col("image_id") == first_real)
        .then(pl.when(pl.col("split") == "train").then(pl.lit("test")).otherwise(pl.lit("train")))
        .otherwise("split")
        .alias("split")
    )
    with pytest.raises(ValueError, match=first_real):
        check_split(flipped.iter_rows(named=True), 0.4, 0)


def test_photo_ids_from_rows_and_the_real_images_side_must_agree() -> None:
    fakes, reals, meta = _warehouse_rows()
    with_ids = reals.with_columns(
        (pl.lit("demo:") + pl.col("origin").str.split("#").list.first()).alias("photo_id")
    )
    sides = photo_sides(with_ids["photo_id"].to_list(), 0.4)
    ok = with_ids.with_columns(
        pl.col("photo_id").replace_strict(sides).alias("photo_split")
    )
    rows = build_split(fakes, ok, meta, 0.4, 0)
    assert rows.filter(pl.col("label") == "real")["group_key"].to_list() == ok["photo_id"].to_list()
    wrong = ok.with_columns(
        pl.when(pl.col("photo_split") == "test").then(pl.lit("train")).otherwise(pl.lit("test"))
        .alias("photo_split")
    )
    with pytest.raises(ValueError, match="prompts could leak"):
        build_split(fakes, wrong, meta, 0.4, 0)


def test_fallback_photo_id() -> None:
    assert fallback_photo_id("demo", "astronaut#crop=1,2,3,4", "x") == "demo:astronaut"
    assert fallback_photo_id("demo", None, "real:demo:a") == "demo:real:demo:a"


def test_a_sampled_model_without_metadata_is_refused() -> None:
    fakes, reals, meta = _warehouse_rows()
    with pytest.raises(ValueError, match="without a model_metadata row"):
        build_split(fakes, reals, meta.filter(pl.col("model_id") != "org3/gen3"), 0.4, 0)


def test_time_buckets() -> None:
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


def test_detector_dataset_refuses_reals_whose_photo_side_disagrees(tmp_path) -> None:  # noqa: ANN001
    """The asset, not only `build_split`: the real rows it reads carry `photo_split`, so a
    real image put on the other side of its photo by real_images (its prompts could leak
    test photos into training) fails the split instead of passing unchecked."""
    import dagster as dg

    from fakeimg_assets.splits.assets import detector_dataset
    from resources import WarehouseResource

    fakes, reals, meta = _warehouse_rows()
    wh = WarehouseResource(home=str(tmp_path))
    for model in fakes["source"].unique().to_list():
        key = f"fake--{model.replace('/', '--')}"
        wh.write("fake_images", key, fakes.filter(pl.col("source") == model))
        wh.write("model_stats", key, [{"model_id": model, "n_images": 3, "quarantined": False}])
    wh.write("model_metadata", "all", meta.with_columns(pl.lit("sd1").alias("architecture")))
    photo = pl.lit("demo:") + pl.col("origin").str.split("#").list.first()
    reals = reals.with_columns(photo.alias("photo_id"))
    sides = photo_sides(reals["photo_id"].to_list(), 0.4)
    wrong_first = pl.when(pl.int_range(pl.len()) == 0)
    reals = reals.with_columns(
        wrong_first.then(pl.col("photo_id").replace_strict(sides).replace(
            {"test": "train", "train": "test"}))
        .otherwise(pl.col("photo_id").replace_strict(sides)).alias("photo_split"))
    wh.write("real_images", "real--demo", reals)
    run = {"ops": {"detector_dataset": {"config": {"test_fraction": 0.4, "seed": 0}}}}
    result = dg.materialize([detector_dataset], resources={"warehouse": wh}, run_config=run,
                            raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "prompts could leak" in failure.step_failure_data.error.message
    assert wh.query("SELECT count(*) AS n FROM detector_splits")["n"].to_list() == [0]
    # the same rows with the sides real_images gave them: the split is cut
    wh.write("real_images", "real--demo", reals.with_columns(
        pl.col("photo_id").replace_strict(sides).alias("photo_split")))
    assert dg.materialize([detector_dataset], resources={"warehouse": wh}, run_config=run,
                          raise_on_error=False).success
