"""A damaged (truncated) Parquet file: readers skip it naming it and the fix, `verify` reads
every relation, and `verify --repair` quarantines the file, marks its partition for re-run
and never deletes an image whose rows it cannot read.

Homes are built with the real writers (`Warehouse.write`, `PartitionWriter`), files are
truncated on disk, and the real `verify`, `summarize`, `Warehouse.query`, `ensure_views`,
DuckDB (Python and the CLI users have) and the sensor's retry decision read them back.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from fakeimg_assets.cli import main
from fakeimg_assets.integrity import locks
from fakeimg_assets.integrity.parquet_health import DamagedParquetWarning, footer_damage
from fakeimg_assets.integrity.publish import PartitionWriter
from fakeimg_assets.integrity.quarantine import (
    quarantine_file,
    quarantine_folder,
    quarantined_copies,
)
from fakeimg_assets.integrity.rerun import NO_RERUN, PER_MODEL, RELATION_JOBS, rerun_for
from fakeimg_assets.integrity.verify import verify
from fakeimg_assets.summary import summarize
from fakeimg_assets.warehouse.schemas import RELATIONS
from fakeimg_assets.warehouse.store import Warehouse
from resources.warehouse import WarehouseResource
from sensors.retries import transient_retries
from tests.helpers.repo import ROOT

MODEL, SLUG = "org/model", "org--model"
N_IMAGES = 24  # the partition size


def _publish(home: Path, name: str, n: int, salt: str = "a") -> list[dict]:
    wh = Warehouse(home)
    writer = PartitionWriter(home, "fake", name, wh)
    files = {f"{i:05d}.png": f"{salt}-{name}-{i}".encode() for i in range(n)}
    rows = [{"image_id": f"fake:{name}:{i:05d}", "label": "fake",
             "source": name.replace("--", "/", 1), "path": writer.path_of(fname),
             "sha256": hashlib.sha256(data).hexdigest()}
            for i, (fname, data) in enumerate(files.items())]
    writer.publish(files, rows)
    return rows


def _truncate(path: Path) -> bytes:
    """Cut the file in half on disk, as a full disk or a killed copy leaves it; returns
    the original bytes (the user's backup)."""
    original = path.read_bytes()
    os.truncate(path, len(original) // 2)
    return original


def _corrupt_pages(path: Path) -> None:
    """Overwrite every data page, keeping the footer intact (bit rot): the file's schema
    still reads, its rows do not."""
    data = path.read_bytes()
    footer_start = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    path.write_bytes(data[:4] + b"\xff" * (footer_start - 4) + data[footer_start:])
    assert footer_damage(path) is None


def _pngs(home: Path, name: str) -> set[str]:
    return {p.relative_to(home).as_posix()
            for p in (home / "images" / "fake" / name).rglob("*.png")}


def _stats(model_id: str, n: int = 3) -> list[dict]:
    return [{"model_id": model_id, "n_images": n, "quarantined": False}]


def _cli(db: Path, sql: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "duckdb"
    assert exe.exists(), "the DuckDB CLI is missing: pip install 'duckdb-cli==1.5.6' (test extra)"
    return subprocess.run([str(exe), str(db), "-csv", "-c", sql], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


# -- (a) the scenario -----------------------------------------------------------------


def test_truncated_fake_images_never_turns_its_pngs_into_orphans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    home = tmp_path / "home"
    _publish(home, SLUG, N_IMAGES)
    _publish(home, "other--model", 2)
    stray = home / "images" / "fake" / "other--model" / "stray.png"  # a true orphan
    stray.write_bytes(b"stray")
    pngs = _pngs(home, SLUG)
    assert len(pngs) == N_IMAGES
    table_file = home / "parquet" / "fake_images" / f"fake--{SLUG}.parquet"
    backup = _truncate(table_file)

    report = verify(home)
    kinds = {(p.kind, p.path) for p in report.problems}
    assert not [p for p in report.problems if p.kind == "orphan" and SLUG in p.path]
    assert ("bad_rows", f"parquet/fake_images/fake--{SLUG}.parquet") in kinds
    assert ("unverifiable", f"images/fake/{SLUG}/") in kinds
    assert ("orphan", "images/fake/other--model/stray.png") in kinds  # others still checked

    monkeypatch.setenv("FAKEIMG_HOME", str(home))
    assert main(["verify", "--repair"]) == 1  # the partition still awaits its re-run
    out = capsys.readouterr().out
    assert _pngs(home, SLUG) == pngs  # not one image deleted
    assert not stray.exists() and "removed: images/fake/other--model/stray.png" in out
    assert not table_file.exists()
    (copy,) = quarantined_copies(home, "fake_images", f"fake--{SLUG}")
    assert copy.path.parent == quarantine_folder(home, "fake_images", f"fake--{SLUG}")
    assert copy.path.read_bytes() == backup[: len(backup) // 2]  # moved as found
    assert f"quarantined: parquet/fake_images/fake--{SLUG}.parquet -> " in out
    assert f"dg launch --job sample_model --partition {MODEL}" in out
    assert "orphan: " not in out and f"removed: images/fake/{SLUG}" not in out

    # marked for re-run: a transient failure row the sampling sensor acts on
    failures = Warehouse(home).read("model_failures").to_dicts()
    assert [(f["model_id"], f["stage"], f["transient"]) for f in failures] == [
        (MODEL, "storage", True)]
    (decision,) = transient_retries(WarehouseResource(home=str(home)), {MODEL})
    assert decision.model_id == MODEL and decision.request

    table_file.write_bytes(backup)  # the user restores the file from a backup
    report = verify(home)
    assert report.ok, report.lines()
    assert report.n_rows == N_IMAGES + 2 and report.n_files_checked == N_IMAGES + 2
    assert not [p for p in report.problems if p.kind == "missing_file"]


def test_a_second_quarantine_of_the_same_file_keeps_the_first(tmp_path: Path) -> None:
    _publish(tmp_path, SLUG, 2)
    table_file = tmp_path / "parquet" / "fake_images" / f"fake--{SLUG}.parquet"
    _truncate(table_file)
    verify(tmp_path, repair=True)
    table_file.write_bytes(b"PAR1 not really")  # damaged again, differently
    verify(tmp_path, repair=True)
    copies = quarantined_copies(tmp_path, "fake_images", f"fake--{SLUG}")
    assert len(copies) == 2 and len({c.path for c in copies}) == 2
    assert copies[1].path.read_bytes() == b"PAR1 not really"
    assert copies[0].path.stat().st_size > len(b"PAR1 not really")
    with pytest.raises(ValueError, match="invalid partition key"):
        quarantine_folder(tmp_path, "fake_images", "../../escape")
    with pytest.raises(ValueError, match="invalid relation"):
        quarantine_folder(tmp_path, "..", "k")


def test_repair_never_moves_a_file_while_its_partition_is_being_written(tmp_path: Path) -> None:
    _publish(tmp_path, SLUG, 2)
    table_file = tmp_path / "parquet" / "fake_images" / f"fake--{SLUG}.parquet"
    _truncate(table_file)
    fd = locks.acquire(tmp_path, f"fake--{SLUG}")  # what a PartitionWriter holds
    try:
        report = verify(tmp_path, repair=True)
    finally:
        locks.release(fd)
    assert table_file.exists() and not report.quarantined
    assert any(p.kind == "bad_rows" and "writer of this partition is running" in p.detail
               for p in report.problems)
    assert verify(tmp_path, repair=True).quarantined  # once the writer is done


def test_a_file_rewritten_after_it_was_judged_damaged_is_never_quarantined(
    tmp_path: Path,
) -> None:
    wh = Warehouse(tmp_path)
    path = wh.write("model_stats", "a--b", _stats("a/b"))
    _truncate(path)
    judged = path.stat().st_ino  # verify read this one and found it damaged ...
    wh.write("model_stats", "a--b", _stats("a/b", 9))  # ... then a re-run replaced it
    moved = quarantine_file(tmp_path, path, "model_stats", "a--b", "truncated", "re-run", judged)
    assert moved is None
    assert wh.read_key("model_stats", "a--b")["n_images"].to_list() == [9]
    assert quarantined_copies(tmp_path, "model_stats", "a--b") == []


def test_rerun_of_a_quarantined_partition_replaces_it_and_a_failed_one_loses_nothing(
    tmp_path: Path,
) -> None:
    _publish(tmp_path, SLUG, 3, salt="old")
    old_pngs = _pngs(tmp_path, SLUG)
    _truncate(tmp_path / "parquet" / "fake_images" / f"fake--{SLUG}.parquet")
    verify(tmp_path, repair=True)

    writer = PartitionWriter(tmp_path, "fake", SLUG, Warehouse(tmp_path))
    with pytest.raises(RuntimeError, match="pipeline died"), writer:
        writer.add("00000.png", b"new")
        raise RuntimeError("pipeline died")
    assert _pngs(tmp_path, SLUG) == old_pngs  # its clean-up kept the unproven versions

    new_rows = _publish(tmp_path, SLUG, 3, salt="new")  # the re-run commits
    assert _pngs(tmp_path, SLUG) == {r["path"] for r in new_rows}
    report = verify(tmp_path)
    assert report.ok and report.n_rows == 3, report.lines()
    assert not [n for n in report.notes if "quarantined as" in n]  # re-written since


# -- (b) readers skip a damaged file, naming it and the fix ------------------------------------


def test_truncated_model_stats_is_skipped_by_every_reader_with_a_warning(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    wh = Warehouse(home)
    wh.write("model_stats", "a--b", _stats("a/b", 3))
    wh.write("model_stats", "c--d", _stats("c/d", 5))
    wh.write("model_metadata", "a--b", [{"model_id": "a/b", "architecture": "sd1"}])
    assert wh.ensure_views()
    damaged = home / "parquet" / "model_stats" / "c--d.parquet"
    _truncate(damaged)

    text = summarize(home)
    assert "models sampled: 1" in text
    assert f"warning: skipped damaged Parquet file {damaged}" in text
    assert "fakeimg verify --repair" in text

    with pytest.warns(DamagedParquetWarning, match=re.escape(str(damaged))):
        assert wh.query("SELECT model_id FROM model_stats")["model_id"].to_list() == ["a/b"]
    with pytest.warns(DamagedParquetWarning, match="fakeimg verify --repair"):
        assert wh.read("model_stats")["model_id"].to_list() == ["a/b"]
    with pytest.warns(DamagedParquetWarning, match=re.escape(str(damaged))):
        assert wh.read_key("model_stats", "c--d").height == 0

    # warehouse.duckdb: the view lists the readable files, and names the skipped one
    with pytest.warns(DamagedParquetWarning):
        assert wh.ensure_views()
    con = duckdb.connect(str(wh.database_path), read_only=True)
    assert con.execute("SELECT model_id FROM model_stats").fetchall() == [("a/b",)]
    assert con.execute("SELECT relation, path, fix FROM fakeimg_damaged_files").fetchall() == [
        ("model_stats", damaged.as_posix(), f"FAKEIMG_HOME={home} fakeimg verify --repair")]
    con.close()
    # a partition written while the relation is read from a list appears after the write
    with pytest.warns(DamagedParquetWarning):
        WarehouseResource(home=str(home)).write("model_stats", "e--f", _stats("e/f", 1))
    proc = _cli(wh.database_path, "SELECT model_id FROM model_stats ORDER BY 1", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["model_id", "a/b", "e/f"]

    # verify reads every relation; repair quarantines it and marks the model
    report = verify(home)
    assert [(p.kind, p.path) for p in report.problems] == [
        ("bad_rows", "parquet/model_stats/c--d.parquet")]
    report = verify(home, repair=True)
    assert report.ok and report.quarantined
    (row,) = wh.read("model_failures").to_dicts()
    assert (row["model_id"], row["asset"], row["stage"]) == ("c/d", "image_quality_stats",
                                                             "storage")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert wh.ensure_views()
    assert not [w for w in caught if w.category is DamagedParquetWarning]  # none left
    assert "warning:" not in summarize(home)
    proc = _cli(wh.database_path, "SELECT count(*) AS n FROM model_stats", tmp_path)
    assert proc.stdout.split() == ["n", "2"], proc.stderr


def test_pages_that_do_not_decode_behind_a_sound_footer_are_skipped_too(
    tmp_path: Path,
) -> None:
    wh = Warehouse(tmp_path)
    wh.write("model_stats", "a--b", _stats("a/b"))
    rotten = wh.write("model_stats", "c--d", _stats("c/d"))
    _corrupt_pages(rotten)
    text = summarize(tmp_path)
    assert "models sampled: 1" in text and f"damaged Parquet file {rotten}" in text
    with pytest.warns(DamagedParquetWarning, match=re.escape(str(rotten))):
        assert wh.query("SELECT model_id FROM model_stats")["model_id"].to_list() == ["a/b"]
    with pytest.warns(DamagedParquetWarning), pytest.raises(duckdb.BinderException):
        wh.query("SELECT no_such_column FROM model_stats")  # a wrong query is still an error
    assert [p.kind for p in verify(tmp_path).problems] == ["bad_rows"]

    _publish(tmp_path, SLUG, 3)  # an image partition's rows rot while a writer runs
    pngs = _pngs(tmp_path, SLUG)
    _corrupt_pages(tmp_path / "parquet" / "fake_images" / f"fake--{SLUG}.parquet")
    fd = locks.acquire(tmp_path, f"fake--{SLUG}")
    try:
        report = verify(tmp_path, repair=True)  # cannot quarantine it now ...
    finally:
        locks.release(fd)
    assert _pngs(tmp_path, SLUG) == pngs  # ... and so keeps every file it may list
    assert ("unverifiable", f"images/fake/{SLUG}/") in {(p.kind, p.path) for p in report.problems}


def test_damage_is_seen_when_a_file_changes_after_it_was_checked(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    path = wh.write("model_stats", "a--b", _stats("a/b"))
    assert footer_damage(path) is None
    _truncate(path)  # same inode, new size: the cached answer must not be reused
    assert footer_damage(path) is not None
    wh.write("model_stats", "a--b", _stats("a/b"))  # re-written: readable again
    assert footer_damage(path) is None
    (tmp_path / "parquet" / "model_stats" / "_schema.parquet").write_bytes(b"junk")
    assert wh.query("SELECT count(*) AS n FROM model_stats")["n"].to_list() == [1]  # rewritten


# -- (c) the command itself never crashes on a damaged file ----------------------------------


def test_verify_repair_command_with_only_fake_images_truncated(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _publish(home, SLUG, 4)
    assert Warehouse(home).ensure_views()
    _truncate(home / "parquet" / "fake_images" / f"fake--{SLUG}.parquet")
    env = {**os.environ, "FAKEIMG_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-m", "fakeimg_assets.cli", "verify", "--repair"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr  # awaits its re-run
    assert "quarantined: parquet/fake_images/" in proc.stdout
    assert len(_pngs(home, SLUG)) == 4
    proc = subprocess.run([sys.executable, "-m", "fakeimg_assets.cli", "summary"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{MODEL}" in proc.stdout and "storage" in proc.stdout  # listed as failed


# -- what re-creates a file -------------------------------------------------------------------


def test_rerun_table_matches_the_assets_and_jobs_that_write_each_relation() -> None:
    from fakeimg_assets.definitions import defs
    from fakeimg_assets.jobs import ALL_JOBS

    graph = defs.resolve_asset_graph()
    writer_of = {}
    for key in graph.get_all_asset_keys():
        table = (graph.get(key).metadata or {}).get("dagster/table_name")
        if table:
            writer_of[str(table).rsplit(".", 1)[-1]] = key
    job_assets = {j.name: defs.resolve_job_def(j.name).asset_layer.executable_asset_keys
                  for j in ALL_JOBS}
    assert set(RELATIONS) == set(RELATION_JOBS) | set(NO_RERUN)
    for relation, job in RELATION_JOBS.items():
        assert writer_of[relation] in job_assets[job], (relation, job)
    for relation, (asset, prefix) in PER_MODEL.items():
        assert graph.get(dg.AssetKey(asset)).partitions_def is not None, relation
        assert RELATION_JOBS[relation] == "sample_model"
        rerun = rerun_for(relation, f"{prefix}{SLUG}")
        assert rerun.model_id == MODEL and rerun.asset == asset
    assert rerun_for("images", f"fake--{SLUG}").model_id == MODEL  # an old layout's folder
    assert rerun_for("fake_images", "fake--not-a-slug").model_id is None
    assert rerun_for("model_failures", "x").command is None
