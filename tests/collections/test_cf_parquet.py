"""Parquet files in the Community Forensics release layout, written here with pyarrow: as a
file, a folder of them and a glob; plain bytes and the HF `Image` struct; bad rows and bad
files reported by file, row and image name while the rest is staged."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fakeimg_assets.collections.cf_parquet import label_of, parquet_files
from fakeimg_assets.collections.manifest import collection_dir
from fakeimg_assets.collections.stage import stage_collection
from tests.collections.sources import cf_rows, tiny, truncated_png, write_cf_parquet


def _quiet(_line: str) -> None:
    pass


@pytest.mark.parametrize("struct_images", [False, True], ids=["bytes", "hf-image-struct"])
@pytest.mark.parametrize("label_type", ["int", "str"])
def test_a_cf_parquet_file_is_staged(tmp_path: Path, struct_images: bool,
                                     label_type: str) -> None:
    rows = cf_rows({"stylegan3": 3, "dalle3": 2, "sdxl": 2}, n_real=3)
    path = write_cf_parquet(tmp_path / "cf-part.parquet", rows, struct_images=struct_images,
                            label_type=label_type, row_group_size=3)
    c = stage_collection(tmp_path / "home", path, log=_quiet)
    assert (c.name, c.source_kind, c.source, c.problems) == ("cf-part", "cf_parquet",
                                                             str(path), ())
    gens = {g.generator: g for g in c.generators}
    assert list(gens) == ["stylegan3", "dalle3", "sdxl"]  # first appearance in the file
    assert {g: (e.family_group, e.architecture) for g, e in gens.items()} == {
        "stylegan3": ("gan", "GAN"), "dalle3": ("commercial", "commercial"),
        "sdxl": ("latent_diffusion", "latent diffusion")}
    assert [r.original for r in gens["dalle3"].images] == ["cf-part.parquet#3 (dalle3_0.png)",
                                                           "cf-part.parquet#4 (dalle3_1.png)"]
    assert gens["dalle3"].images[0].prompt == "prompt 4"
    assert [(r.format, r.prompt) for r in c.reals] == [("JPEG", None)] * 3
    folder = collection_dir(tmp_path / "home", c.name)
    by_sha = {hashlib.sha256(r["image_data"]).hexdigest(): r["image_data"] for r in rows}
    for record in [*c.reals, *(r for g in c.generators for r in g.images)]:
        assert (folder / record.file).read_bytes() == by_sha[record.sha256]


def test_bad_rows_are_reported_by_file_row_and_name(tmp_path: Path) -> None:
    rows = cf_rows({"stylegan3": 2, "mystery-net": 2}, n_real=2)
    rows[0]["image_data"] = None                        # null bytes
    rows[1]["label"] = 7                                # unknown label
    rows[2]["image_data"] = truncated_png(5)            # undecodable bytes
    rows.append({**rows[4], "image_name": "no-model.png", "model_name": None, "label": 1,
                 "image_data": tiny(77)})               # a fake without model_name
    rows.append({**rows[4], "image_name": "again.jpg"})  # the same real again
    path = write_cf_parquet(tmp_path / "d" / "cf.parquet", rows, row_group_size=2)
    c = stage_collection(tmp_path / "home", path, log=_quiet)
    got = {p.file: (p.generator, p.reason) for p in c.problems}
    assert got["cf.parquet#0 (stylegan3_0.png)"] == (
        "stylegan3", "no image bytes (null or empty image_data): row skipped")
    assert got["cf.parquet#1 (stylegan3_1.png)"] == (
        None, "unknown label 7 (expected 1/'fake' or 0/'real'): row skipped")
    assert got["cf.parquet#2 (mystery-net_0.png)"][0] == "mystery-net"
    assert "image file is truncated" in got["cf.parquet#2 (mystery-net_0.png)"][1]
    assert got["cf.parquet#6 (no-model.png)"] == (
        None, "a fake row without a model_name: row skipped")
    assert "duplicate of 'cf.parquet#4 (real_0.jpg)'" in got["cf.parquet#7 (again.jpg)"][1]
    # an architecture naming no family group: reported once for the generator, 'other'
    unknown = [p for p in c.problems if "names no known family group" in p.reason]
    assert [(p.generator, p.file) for p in unknown] == [
        ("mystery-net", "cf.parquet#2 (mystery-net_0.png)")]
    assert "'hypernetwork'" in unknown[0].reason
    assert got["stylegan3"] == ("stylegan3", "no usable image: generator left out")
    assert len(c.problems) == 7
    gens = {g.generator: g for g in c.generators}
    assert list(gens) == ["mystery-net"] and gens["mystery-net"].family_group == "other"
    assert gens["mystery-net"].n_images == 1 and len(c.reals) == 2  # stylegan3 had none left


def test_a_folder_of_parquet_files_and_a_glob_give_one_collection(tmp_path: Path) -> None:
    release = tmp_path / "release"
    write_cf_parquet(release / "data" / "train-00000-of-00002.parquet",
                     cf_rows({"stylegan3": 2}, n_real=1, seed=0))
    write_cf_parquet(release / "data" / "train-00001-of-00002.parquet",
                     cf_rows({"stylegan3": 1, "dalle3": 2}, n_real=1, seed=1))
    (release / "README.md").write_text("# the release card\n")
    (release / "data" / "broken.parquet").write_bytes(b"PAR1 not really")
    from_folder = stage_collection(tmp_path / "h1", release, log=_quiet)
    assert from_folder.source_kind == "cf_parquet" and from_folder.name == "release"
    assert [(g.generator, g.n_images) for g in from_folder.generators] == [
        ("stylegan3", 3), ("dalle3", 2)]
    assert len(from_folder.reals) == 2
    assert [(p.file, p.reason[:27]) for p in from_folder.problems] == [
        ("data/broken.parquet", "not a readable Parquet file")]
    pattern = str(release / "data" / "train-*.parquet")
    from_glob = stage_collection(tmp_path / "h2", pattern, log=_quiet)
    assert from_glob.name == "data" and from_glob.problems == ()
    assert from_glob.revision == from_folder.revision


def test_a_parquet_file_outside_the_layout_is_reported_and_skipped(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "mixed"
    write_cf_parquet(folder / "good.parquet", cf_rows({"dalle3": 2}, n_real=0))
    pq.write_table(pa.table({"image_data": [b"x"], "label": [1]}), folder / "no-model.parquet")
    pq.write_table(pa.table({"image_data": pa.array([{"path": "a"}], pa.struct(
        [("path", pa.string())])), "model_name": ["m"], "label": [1]}),
        folder / "struct-without-bytes.parquet")
    outside = write_cf_parquet(tmp_path / "outside.parquet", cf_rows({"sdxl": 1}, n_real=0))
    (folder / "linked.parquet").symlink_to(outside)
    files, listed = parquet_files(str(folder))  # refused when listed, before any open
    assert [p.file for p in listed] == ["linked.parquet"] and len(files) == 3
    c = stage_collection(tmp_path / "home", folder, log=_quiet)
    got = {p.file: p.reason for p in c.problems}
    assert "no column model_name" in got["no-model.parquet"]
    assert "no column image_data.bytes" in got["struct-without-bytes.parquet"]
    assert "is a symlink to" in got["linked.parquet"] and "outside" in got["linked.parquet"]
    assert [g.generator for g in c.generators] == ["dalle3"]


def test_a_folder_with_images_is_a_folder_source_even_with_parquet_in_it(
        tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "gen").mkdir(parents=True)
    (src / "gen" / "a.png").write_bytes(tiny(1))
    write_cf_parquet(src / "gen" / "extra.parquet", cf_rows({"dalle3": 1}, n_real=0))
    c = stage_collection(tmp_path / "home", src, log=_quiet)
    assert c.source_kind == "folder" and [g.n_images for g in c.generators] == [1]
    assert "not an image file by its name" in c.problems[0].reason


@pytest.mark.parametrize("value, expected", [
    (1, "fake"), (0, "real"), (True, "fake"), (False, "real"), ("fake", "fake"),
    (" Real ", "real"), ("1", "fake"), ("0", "real"), (1.0, "fake"),
    (2, None), (-1, None), ("maybe", None), (None, None), (b"1", None), (float("nan"), None),
])
def test_labels(value, expected) -> None:
    assert label_of(value) == expected


def test_a_parquet_file_swapped_for_a_symlink_after_listing_is_not_read(
        tmp_path: Path) -> None:
    from fakeimg_assets.collections.cf_parquet import cf_parquet_source

    folder = tmp_path / "release"
    write_cf_parquet(folder / "a.parquet", cf_rows({"dalle3": 1}, n_real=0))
    files, problems = parquet_files(str(folder))
    assert [rel for _, rel in files] == ["a.parquet"] and problems == []
    outside = write_cf_parquet(tmp_path / "outside.parquet", cf_rows({"sdxl": 1}, n_real=0))
    (folder / "a.parquet").unlink()
    (folder / "a.parquet").symlink_to(outside)
    source = cf_parquet_source(files, location=str(folder), default_name="x",
                               within=folder.resolve())
    assert list(source.items) == []
    assert [p.file for p in source.problems] == ["a.parquet"]
    assert "is a symlink to" in source.problems[0].reason
