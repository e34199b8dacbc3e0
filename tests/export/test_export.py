"""`fakeimg export` on a tiny home: round trips through datasets (offline), polars and
DuckDB; exclusions; the card; SHA256SUMS; shard bounds; refusals; interruption; per-file
problems; the CLI and the Dagster asset."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from fakeimg_assets.export.checksums import verify_sums
from fakeimg_assets.export.export import ExportOptions, export_dataset
from tests.helpers.export_home import MODELS, PER_MODEL, REALS, build_export_home

OPEN = {"org/open-a", "org/open-b"}
RESTRICTED = {"org/other-c", "org/gated-d"}
QUARANTINED = "org/bad-e"


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    home = tmp_path / "home"
    home.mkdir()
    return home, build_export_home(home)


def _expected(sides: dict[str, list[str]], keep: set[str]) -> dict[str, int]:
    return {s: sum(1 for i in ids if i.startswith("real:") or i.split(":")[1] in keep)
            for s, ids in sides.items()}


def _cli(*args: str) -> int:
    from fakeimg_assets.cli import main

    return main(list(args))


def test_round_trip_through_datasets_offline_bytes_equal_the_files(
        tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    home, sides = tiny
    out = tmp_path / "out"
    report = export_dataset(home, out, ExportOptions(max_rows=2))
    assert report.ok and report.rows == _expected(sides, OPEN)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ds = datasets.load_dataset("parquet", data_files={
        s: [str(out / f) for f in files] for s, files in report.files.items()},
        cache_dir=str(tmp_path / "cache"))
    assert {s: ds[s].num_rows for s in ds} == _expected(sides, OPEN)
    stored = {r["image_id"]: r for r in pl.concat([
        pl.read_parquet(p) for p in (home / "parquet").rglob("*.parquet")
        if "images" in str(p) and "_schema" not in p.name], how="diagonal_relaxed")
        .iter_rows(named=True)}
    paths = {i: r["path"] for i, r in stored.items()}
    carried = ("prompt", "seed", "steps", "guidance_scale", "scheduler", "revision", "prompt_id",
               "image_index", "batch_size", "dtype", "device", "torch_threads",
               "library_versions", "origin", "photo_id", "width", "height", "file_bytes")
    for split in ds:
        for row in ds[split]:
            data = row["image_data"]
            assert isinstance(data, bytes)  # plain parquet: raw bytes, CF layout
            assert data == (home / paths[row["image_id"]]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == row["sha256"]
            assert row["label"] == (1 if row["image_id"].startswith("fake:") else 0)
            assert row["split"] == split
            for name in carried:  # every field that remakes or traces the image goes out
                assert row[name] == stored[row["image_id"]].get(name), (name, row["image_id"])
            assert (row["model_name"] is None) == (row["label"] == 0)
            assert (row["real_source"] is None) == (row["label"] == 1)


def test_load_dataset_of_the_folder_reads_the_card_and_decodes_images(
        tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    home, sides = tiny
    out = tmp_path / "out"
    report = export_dataset(home, out, ExportOptions(max_rows=4))
    text = (out / "README.md").read_text()
    assert text.startswith("---\n")
    header = yaml.safe_load(text.split("\n---\n", 1)[0][4:])
    assert header["task_categories"] == ["image-classification"]
    assert header["size_categories"] == ["n<1K"]
    configs = {d["split"]: d["path"] for d in header["configs"][0]["data_files"]}
    assert configs == report.files and set(configs) == {"train", "test"}
    assert header["license"] == "other"  # two licences among the exported generators
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert isinstance(ds["train"].features["image_data"], datasets.Image)
    img = ds["train"][0]["image_data"]
    assert img.size == (16, 16)
    assert {s: ds[s].num_rows for s in ds} == _expected(sides, OPEN)
    for name, (lic, *_rest) in MODELS.items():
        assert f"| {name} | {lic} |" in text  # every generator's licence, exported or not
    assert "org/bad-e`: quarantined (black images)" in text
    assert "org/other-c`: restricted" in text and "org/gated-d`: restricted, gated" in text
    assert "| sd1 | 3 |" in text and "| sdxl | 3 |" in text  # counts per architecture


def test_polars_and_duckdb_read_the_shards(tiny, tmp_path: Path) -> None:
    home, sides = tiny
    report = export_dataset(home, tmp_path / "out", ExportOptions(max_rows=3))
    files = [str(tmp_path / "out" / f) for fs in report.files.values() for f in fs]
    df = pl.read_parquet(files)
    assert df.height == sum(_expected(sides, OPEN).values())
    assert df["image_data"].dtype == pl.Binary
    counts = duckdb.sql(f"SELECT split, label, count(*) AS n FROM read_parquet({files!r}) "
                        "GROUP BY ALL ORDER BY ALL").fetchall()
    assert counts == [("test", 0, REALS // 2), ("test", 1, PER_MODEL),
                      ("train", 0, REALS // 2), ("train", 1, PER_MODEL)]


def test_quarantined_always_out_restricted_out_unless_asked(tiny, tmp_path: Path) -> None:
    home, sides = tiny
    plain = export_dataset(home, tmp_path / "a")
    models = set(pl.read_parquet(tmp_path / "a" / "data")["model_name"].drop_nulls())
    assert models == OPEN
    assert set(plain.restricted) == RESTRICTED and set(plain.quarantined) == {QUARANTINED}
    wide = export_dataset(home, tmp_path / "b", ExportOptions(include_restricted=True))
    df = pl.read_parquet(tmp_path / "b" / "data")
    assert set(df["model_name"].drop_nulls()) == OPEN | RESTRICTED
    flagged = dict(df.filter(pl.col("restricted").is_not_null())
                   .group_by("model_name").agg(pl.col("restricted").first()).iter_rows())
    assert set(flagged) == RESTRICTED and "gated" in flagged["org/gated-d"]
    assert wide.rows == _expected(sides, OPEN | RESTRICTED)
    assert "**included**" in (tmp_path / "b" / "README.md").read_text()


def test_sha256sums_verify_and_catch_any_change(tiny, tmp_path: Path) -> None:
    home, _ = tiny
    out = tmp_path / "out"
    export_dataset(home, out)
    assert verify_sums(out) == []
    listed = (out / "SHA256SUMS").read_text()
    assert "README.md" in listed and "fakeimg-export.json" in listed and "SHA256SUMS" not in \
        listed.replace("  SHA256SUMS", "")
    if shutil.which("sha256sum"):
        subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=out, check=True)
    shard = next((out / "data").glob("train-*.parquet"))
    shard.write_bytes(shard.read_bytes() + b"x")
    (out / "extra.txt").write_text("x")
    problems = verify_sums(out)
    assert f"data/{shard.name}: sha256 differs" in problems and "extra.txt: not listed" in problems


def test_shards_are_bounded_by_rows_and_by_bytes_and_named_hf_style(tiny, tmp_path: Path) -> None:
    home, sides = tiny
    report = export_dataset(home, tmp_path / "rows", ExportOptions(max_rows=2))
    n_train = _expected(sides, OPEN)["train"]
    names = [Path(f).name for f in report.files["train"]]
    count = -(-n_train // 2)
    assert names == [f"train-{i:05d}-of-{count:05d}.parquet" for i in range(count)]
    for f in report.files["train"]:
        assert pl.read_parquet(tmp_path / "rows" / f).height <= 2
    one = export_dataset(home, tmp_path / "bytes", ExportOptions(max_bytes=1))
    assert len(one.files["test"]) == _expected(sides, OPEN)["test"]  # one image per shard
    with pytest.raises(ValueError, match="max_rows"):
        ExportOptions(max_rows=0)


def test_a_file_or_foreign_folder_is_refused_naming_what_is_in_the_way(
        tiny, tmp_path: Path) -> None:
    home, _ = tiny
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    with pytest.raises(ValueError, match="not a folder"):
        export_dataset(home, a_file)
    assert a_file.read_text() == "mine"
    foreign = tmp_path / "foreign"
    (foreign / "sub").mkdir(parents=True)
    (foreign / "sub" / "notes.md").write_text("mine")
    with pytest.raises(ValueError, match=r"not a fakeimg export.*notes\.md"):
        export_dataset(home, foreign)
    assert (foreign / "sub" / "notes.md").read_text() == "mine"
    out = tmp_path / "out"
    export_dataset(home, out)
    (out / "my-notes.txt").write_text("mine")  # a user's file in a previous export
    with pytest.raises(ValueError, match=r"not part of the previous export.*my-notes\.txt"):
        export_dataset(home, out)
    (out / "my-notes.txt").unlink()
    before = {p.name for p in (out / "data").iterdir()}
    report = export_dataset(home, out, ExportOptions(max_rows=1))  # a previous export: replaced
    after = {p.name for p in (out / "data").iterdir()}
    assert after == {Path(f).name for fs in report.files.values() for f in fs} != before
    assert verify_sums(out) == []
    assert not list(tmp_path.glob(".out.export-*"))


def test_an_interrupted_export_leaves_no_dataset_and_keeps_the_previous_one(
        tiny, tmp_path: Path) -> None:
    home, _ = tiny
    fresh = tmp_path / "fresh"
    calls = []

    def boom() -> None:
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_dataset(home, fresh, on_row=boom)
    assert not fresh.exists() and not list(tmp_path.glob(".fresh.export-*"))
    out = tmp_path / "out"
    export_dataset(home, out)
    sums = (out / "SHA256SUMS").read_text()
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        export_dataset(home, out, ExportOptions(max_rows=1), on_row=boom)
    assert (out / "SHA256SUMS").read_text() == sums and verify_sums(out) == []
    crashed, running = tmp_path / ".out.export-crashed", tmp_path / ".out.export-running"
    crashed.mkdir()
    running.mkdir()
    os.utime(crashed, (0, 0))  # a crash long ago: removed; a young one may still be running
    export_dataset(home, out)
    assert not crashed.exists() and running.exists()


def test_missing_changed_or_escaping_files_are_reported_one_by_one(tiny, tmp_path: Path) -> None:
    from resources import WarehouseResource

    home, sides = tiny
    wh = WarehouseResource(home=str(home))
    rows = wh.read_key("fake_images", "fake--org--open-a").to_dicts()
    (home / rows[0]["path"]).unlink()  # missing
    (home / rows[1]["path"]).write_bytes(b"not the image")  # changed
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"secret")
    rows[2]["path"] = "images/../../outside.png"  # a row pointing out of the image store
    rows[2]["sha256"] = hashlib.sha256(b"secret").hexdigest()
    wh.write("fake_images", "fake--org--open-a", rows)
    lines: list[str] = []
    report = export_dataset(home, tmp_path / "out", log=lines.append)
    assert not report.ok
    why = {p.image_id: p.reason for p in report.problems}
    assert set(why) == {r["image_id"] for r in rows}
    assert "No such file" in why[rows[0]["image_id"]]
    assert "does not match" in why[rows[1]["image_id"]]
    assert "not a plain relative path" in why[rows[2]["image_id"]]
    assert sum("left out image" in line for line in lines) == 3
    df = pl.read_parquet(tmp_path / "out" / "data")
    assert not set(df["image_id"]) & set(why)
    assert df.height == sum(_expected(sides, OPEN).values()) - 3
    assert "b\"secret\"" not in str(df["image_data"].to_list())
    card = (tmp_path / "out" / "README.md").read_text()
    assert all(iid in card for iid in why)


def test_cli_checks_arguments_before_any_work_and_shows_progress(
        tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    home, sides = tiny
    monkeypatch.setenv("FAKEIMG_HOME", str(home))
    out = tmp_path / "out"
    for bad, message in ((["--push", "../etc"], "invalid --push repo id"),
                         (["--push", "a/b/c"], "invalid --push repo id"),
                         (["--push", "org/ok"], "HF_TOKEN"),
                         (["--max-rows", "0"], "max_rows"),
                         (["--max-mb", "-1"], "--max-mb")):
        assert _cli("export", str(out), *bad) == 2
        assert message in capsys.readouterr().err
        assert not out.exists()
    assert _cli("export", str(out), "--verbose") == 0
    captured = capsys.readouterr()
    assert "export:" in captured.err and "rows/s" in captured.err and "ETA" in captured.err
    assert f"train {_expected(sides, OPEN)['train']} images" in captured.out
    empty = tmp_path / "empty-home"
    (empty / "parquet").mkdir(parents=True)
    monkeypatch.setenv("FAKEIMG_HOME", str(empty))
    assert _cli("export", str(tmp_path / "x")) == 2
    err = capsys.readouterr().err
    assert "detector_dataset" in err and "export:" not in err  # no bar before a refusal
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.export-*"))


def test_dataset_export_asset_writes_under_home_and_logs_each_shard(tiny) -> None:
    import dagster as dg

    from fakeimg_assets.definitions import build_resources
    from fakeimg_assets.export.assets import dataset_export

    home, sides = tiny
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [dataset_export], instance=instance,
            resources=build_resources(home=str(home), endpoint="http://127.0.0.1:9"),
            run_config={"ops": {"dataset_export": {"config": {"max_rows": 2}}}},
            selection=[dataset_export])
        assert result.success
        logs = [e.message for e in instance.all_logs(result.run_id)
                if e.user_message and "shard" in e.user_message]
    out = home / "export" / "dataset"
    assert verify_sums(out) == []
    assert pl.read_parquet(out / "data").height == sum(_expected(sides, OPEN).values())
    assert len(logs) >= 3 and all("ETA" in m for m in logs)
    meta = result.asset_materializations_for_node("dataset_export")[0].metadata
    assert meta["rows_train"].value == _expected(sides, OPEN)["train"]
