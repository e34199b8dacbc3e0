"""Publishing a partition's images and `fakeimg verify` on homes with every kind of damage."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from fakeimg_assets.cli import main
from fakeimg_assets.integrity.check import files_consistent_result
from fakeimg_assets.integrity.publish import PartitionWriter
from fakeimg_assets.integrity.verify import verify
from fakeimg_assets.warehouse.store import Warehouse

SLUG = "org--model"


def _dead_pid() -> int:
    out = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


def _publish(home: Path, n: int = 3, salt: str = "a", kind: str = "fake",
             name: str = SLUG) -> list[dict]:
    wh = Warehouse(home)
    writer = PartitionWriter(home, kind, name, wh)
    files = {f"{i:05d}.png": f"{salt}-{i}".encode() for i in range(n)}
    rows = [
        {"image_id": f"{kind}:{name}:{i:05d}", "label": kind, "source": name,
         "path": writer.path_of(fname), "sha256": hashlib.sha256(data).hexdigest()}
        for i, (fname, data) in enumerate(files.items())
    ]
    writer.publish(files, rows)
    return rows


def _versions(home: Path, name: str = SLUG) -> list[str]:
    return sorted(p.name for p in (home / "images" / "fake" / name).iterdir())


def test_republish_replaces_the_version_and_leaves_nothing_behind(tmp_path: Path) -> None:
    first = _publish(tmp_path, salt="a")
    assert all(r["path"].startswith(f"images/fake/{SLUG}/v") for r in first)
    assert verify(tmp_path).ok
    second = _publish(tmp_path, salt="b")
    (only,) = _versions(tmp_path)
    assert {Path(r["path"]).parent.name for r in second} == {only}
    assert only != Path(first[0]["path"]).parent.name
    rows = Warehouse(tmp_path).read_key("images", f"fake--{SLUG}")
    assert sorted(rows["path"]) == sorted(r["path"] for r in second)
    report = verify(tmp_path)
    assert report.ok and report.n_rows == 3 and report.n_files_checked == 3


def test_next_write_removes_leftovers_of_a_killed_attempt(tmp_path: Path) -> None:
    _publish(tmp_path, salt="a")
    folder = tmp_path / "images" / "fake" / SLUG
    pid = _dead_pid()
    (folder / f".staging-{pid}-abcdef12").mkdir()
    (folder / f".staging-{pid}-abcdef12" / "00000.png").write_bytes(b"half")
    (folder / "v20000101T000000000000-deadbeef").mkdir()  # renamed, rows never written
    (folder / "v20000101T000000000000-deadbeef" / "00000.png").write_bytes(b"x")
    (folder.parent / f".{SLUG}.staging-{pid}-abc123").mkdir()  # the pre-versioning code's
    (folder.parent / f".{SLUG}.old-abc123").mkdir()
    parquet_tmp = tmp_path / "parquet" / "fake_images" / f".fake--{SLUG}.{pid}.0badf00d.tmp"
    parquet_tmp.write_bytes(b"PAR1 half")
    kinds = sorted(p.kind for p in verify(tmp_path).problems)
    assert kinds == ["leftover"] * 4 + ["orphan"]
    _publish(tmp_path, salt="b")
    assert len(_versions(tmp_path)) == 1
    assert not list(folder.parent.glob(f".{SLUG}.*")) and not parquet_tmp.exists()
    assert verify(tmp_path).ok


def test_an_error_mid_write_keeps_the_previous_version(tmp_path: Path) -> None:
    before = _publish(tmp_path, salt="a")
    writer = PartitionWriter(tmp_path, "fake", SLUG, Warehouse(tmp_path))
    with pytest.raises(RuntimeError, match="disk full"), writer:
        writer.add("00000.png", b"new")
        raise RuntimeError("disk full")
    rows = Warehouse(tmp_path).read_key("images", f"fake--{SLUG}")
    assert sorted(rows["path"]) == sorted(r["path"] for r in before)
    assert verify(tmp_path).ok


def test_commit_refuses_rows_that_do_not_match_the_staged_files(tmp_path: Path) -> None:
    writer = PartitionWriter(tmp_path, "fake", SLUG, Warehouse(tmp_path))
    with pytest.raises(ValueError, match="1 files without a row"), writer:
        writer.add("00000.png", b"x")
        writer.commit([])
    with pytest.raises(ValueError, match="invalid image partition name"):
        PartitionWriter(tmp_path, "fake", "../escape", Warehouse(tmp_path))


def _damage(home: Path, rows: list[dict]) -> dict[str, str]:
    """One of each problem; returns the path each is reported under."""
    (home / rows[0]["path"]).unlink()
    (home / rows[1]["path"]).write_bytes(b"tampered")
    version = (home / rows[2]["path"]).parent
    (version / "stray.png").write_bytes(b"stray")
    orphan_dir = home / "images" / "fake" / "gone--model" / "v1"
    orphan_dir.mkdir(parents=True)
    (orphan_dir / "00000.png").write_bytes(b"o")
    staging = version.parent / f".staging-{_dead_pid()}-0a1b2c3d"
    staging.mkdir()
    return {
        "missing_file": rows[0]["path"],
        "sha256_mismatch": rows[1]["path"],
        "orphan": (version / "stray.png").relative_to(home).as_posix(),
        "orphan_dir": "images/fake/gone--model/",
        "leftover": staging.relative_to(home).as_posix(),
    }


def test_verify_names_every_problem_and_repair_removes_only_unreferenced_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    home = tmp_path / "home"
    _publish(home, kind="real", name="skimage", salt="r")
    rows = _publish(home, salt="a")
    where = _damage(home, rows)
    monkeypatch.setenv("FAKEIMG_HOME", str(home))
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    for kind, path in where.items():
        assert f"{kind.removesuffix('_dir')}: {path}" in out, (kind, out)
    assert "fake:org--model:00000" in out  # the row is named too

    assert main(["verify", "--repair"]) == 1  # row problems cannot be repaired
    out = capsys.readouterr().out
    assert f"removed: {where['orphan']}" in out and f"removed: {where['leftover']}" in out
    assert (home / rows[1]["path"]).exists()  # a row's file is never removed, even tampered
    report = verify(home)
    assert sorted(p.kind for p in report.problems) == ["missing_file", "sha256_mismatch"]
    assert verify(home, hashes=False).problems[0].kind == "missing_file"

    (home / rows[1]["path"]).unlink()
    _publish(home, salt="b")  # a rerun of the partition heals it
    assert main(["verify"]) == 0
    assert "OK" in capsys.readouterr().out


def test_verify_refuses_paths_outside_the_home(tmp_path: Path) -> None:
    Warehouse(tmp_path).write("fake_images", "fake--x--y", [
        {"image_id": "fake:x/y:0", "label": "fake", "source": "x/y",
         "path": "../outside.png", "sha256": "0" * 64}])
    (problem,) = verify(tmp_path).problems
    assert problem.kind == "bad_path" and "fake:x/y:0" in problem.detail


def test_files_consistent_check_per_partition(tmp_path: Path) -> None:
    rows = _publish(tmp_path, salt="a")
    _publish(tmp_path, kind="fake", name="other--model", salt="o")
    good = files_consistent_result(tmp_path, "fake", SLUG)
    assert good.passed and good.metadata["n_rows"].value == 3
    (tmp_path / rows[0]["path"]).write_bytes(b"tampered")
    bad = files_consistent_result(tmp_path, "fake", SLUG)
    assert not bad.passed and bad.severity == dg.AssetCheckSeverity.ERROR
    assert "sha256_mismatch" in bad.description and rows[0]["path"] in bad.description
    assert files_consistent_result(tmp_path, "fake", "other--model").passed  # per partition


def test_another_machines_work_in_progress_survives_verify_and_is_cleaned_under_the_lock(
    tmp_path: Path,
) -> None:
    """A home several machines share: another machine's staging folder and temp Parquet look
    dead here (its pid means nothing on this machine), so `verify --repair` keeps them and
    names the machine, while this machine's dead writer's go. The partition's next write
    holds the lock every writer of that partition holds, so then they go too."""
    from fakeimg_assets.lib.leftovers import machine_tag

    _publish(tmp_path, salt="a")
    pid = _dead_pid()
    folder = tmp_path / "images" / "fake" / SLUG
    theirs = folder / f".staging-gpu-7~{pid}-abcdef12"
    theirs.mkdir()
    (theirs / "00000.png").write_bytes(b"being written on gpu-7")
    parquet = tmp_path / "parquet" / "fake_images"
    their_rows = parquet / f".fake--{SLUG}.gpu-7~{pid}.0badf00d.tmp"
    their_rows.write_bytes(b"PAR1 being written")
    ours = parquet / f".fake--{SLUG}.{machine_tag()}~{pid}.0badf00d.tmp"
    ours.write_bytes(b"PAR1 half")
    report = verify(tmp_path)
    assert [(p.kind, p.path) for p in report.problems] == [
        ("leftover", ours.relative_to(tmp_path).as_posix())]
    assert any("gpu-7 (2)" in n for n in report.notes), report.notes
    repaired = verify(tmp_path, repair=True)
    assert repaired.repaired == [ours.relative_to(tmp_path).as_posix()]
    assert theirs.is_dir() and their_rows.is_file() and not ours.exists()
    assert verify(tmp_path).ok
    _publish(tmp_path, salt="b")
    assert not theirs.exists() and not their_rows.exists()
