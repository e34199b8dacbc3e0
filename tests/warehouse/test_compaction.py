"""Compaction (`warehouse/compaction.py`): every reader sees the same rows before, during and
after it; later writes and deletes win over compacted rows; a writer racing it keeps its
file; verify and repair count compacted image rows (never deleting their images)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import polars as pl
import pytest

from fakeimg_assets.integrity.publish import PartitionWriter
from fakeimg_assets.integrity.verify import verify
from fakeimg_assets.lib.flock import open_locked, unlock
from fakeimg_assets.warehouse import compaction
from fakeimg_assets.warehouse.compaction import compact_home, compact_relation
from fakeimg_assets.warehouse.schemas import schema_of
from fakeimg_assets.warehouse.sources import compacted_path
from fakeimg_assets.warehouse.store import Warehouse


def _rows(i: int, n: int, salt: str = "") -> list[dict]:
    src = f"org{i:02d}/model{salt}"
    return [{"image_id": f"fake:{src}:{k:03d}", "label": "fake", "source": src,
             "path": f"images/fake/org{i:02d}--model/v1/{k:03d}.png", "sha256": f"{i}{salt}{k}",
             "width": 64, "height": 64, "format": "PNG", "image_index": k, "seed": k}
            for k in range(n)]


def _key(i: int) -> str:
    return f"fake--org{i:02d}--model"


def _everything(home: Path) -> dict[str, pl.DataFrame]:
    """What each reader sees of `images`, sorted: the store, fakeimg's SQL, the user's file."""
    wh = Warehouse(home)
    wh.ensure_views(force=True)
    con = duckdb.connect(str(wh.database_path), read_only=True)
    try:
        user = pl.from_arrow(con.sql("SELECT image_id, sha256 FROM images").to_arrow_table())
    finally:
        con.close()
    return {
        "read": wh.read("images").select("image_id", "sha256").sort("image_id"),
        "query": wh.query("SELECT image_id, sha256 FROM images").sort("image_id"),
        "duckdb": user.sort("image_id"),  # type: ignore[union-attr]
    }


def _loose(home: Path, table: str = "fake_images") -> list[str]:
    folder = home / "parquet" / table
    return sorted(p.stem for p in folder.glob("*.parquet") if not p.name.startswith("_"))


def test_every_reader_sees_the_same_rows_before_and_after(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    for i in range(12):
        wh.write("fake_images", _key(i), _rows(i, 5))
    wh.write("real_images", "real--photos", [{**r, "label": "real", "image_id": f"real:{k}"}
                                             for k, r in enumerate(_rows(99, 4))])
    before = _everything(tmp_path)
    assert all(f.height == 64 for f in before.values())
    result = compact_relation(tmp_path, "fake_images")
    assert (result.folded, result.retired, result.rows) == (12, 12, 60)
    assert _loose(tmp_path) == [] and compacted_path(tmp_path / "parquet" / "fake_images").is_file()
    after = _everything(tmp_path)
    for name in before:
        assert after[name].equals(before[name]), name
    for i in (0, 7, 11):  # one key's rows, from the compacted file
        assert wh.read_key("images", _key(i)).sort("image_id")["sha256"].to_list() == [
            r["sha256"] for r in _rows(i, 5)]
        assert wh.has_key("fake_images", _key(i))
    assert wh.read_key("images", _key(50)).is_empty() and not wh.has_key("fake_images", _key(50))
    assert compact_relation(tmp_path, "fake_images").skipped == "nothing loose"
    con = duckdb.connect(str(wh.database_path), read_only=True)  # the same columns, in order
    try:
        for view in ("images", "fake_images", "real_images"):
            assert [r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()] == list(
                schema_of(view)), view
        assert con.execute("SELECT count(*) FROM images").fetchone() == (64,)
    finally:
        con.close()


def test_a_later_write_or_delete_wins_over_compacted_rows(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    for i in range(4):
        wh.write("fake_images", _key(i), _rows(i, 5))
    compact_relation(tmp_path, "fake_images")
    wh.write("fake_images", _key(1), _rows(1, 2, salt="new"))  # a re-sampled partition
    assert wh.delete("fake_images", _key(2))  # a tombstone: zero rows shadow the compacted 5
    assert not wh.delete("fake_images", _key(9))  # nothing there
    wh.write("fake_images", _key(5), _rows(5, 3))  # a new partition
    expected = sorted(r["image_id"] for i, n, s in [(0, 5, ""), (1, 2, "new"), (3, 5, ""),
                                                    (5, 3, "")] for r in _rows(i, n, s))
    for name, frame in _everything(tmp_path).items():
        assert frame["image_id"].to_list() == expected, name
    assert wh.read_key("fake_images", _key(1))["sha256"].to_list() == ["1new0", "1new1"]
    assert wh.read_key("fake_images", _key(2)).is_empty()
    again = compact_relation(tmp_path, "fake_images")
    assert (again.folded, again.rows) == (3, 15) and _loose(tmp_path) == []
    for name, frame in _everything(tmp_path).items():
        assert frame["image_id"].to_list() == expected, name


def test_a_writer_racing_the_compaction_keeps_its_newer_file(tmp_path: Path,
                                                             monkeypatch) -> None:
    """A partition re-written after its file was folded (before it is retired): the newer
    file stays, and readers see it, not the compacted copy of the old one."""
    wh = Warehouse(tmp_path)
    for i in range(3):
        wh.write("fake_images", _key(i), _rows(i, 4))
    real_retire = compaction._retire

    def racing(path: Path, inode: int) -> bool:
        if path.stem == _key(1):
            wh.write("fake_images", _key(1), _rows(1, 1, salt="race"))  # temp + rename
        return real_retire(path, inode)

    monkeypatch.setattr(compaction, "_retire", racing)
    result = compact_relation(tmp_path, "fake_images")
    assert (result.folded, result.retired) == (3, 2)
    assert _loose(tmp_path) == [_key(1)]
    assert wh.read_key("fake_images", _key(1))["sha256"].to_list() == ["1race0"]
    for name, frame in _everything(tmp_path).items():
        assert frame.height == 9 and "1race0" in frame["sha256"].to_list(), name


def test_one_compaction_per_table_at_a_time(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    wh.write("fake_images", _key(0), _rows(0, 3))
    folder = compacted_path(tmp_path / "parquet" / "fake_images").parent
    folder.mkdir(parents=True)
    fd = open_locked(folder / compaction.LOCK_NAME, wait=True)
    try:
        assert compact_relation(tmp_path, "fake_images").skipped.startswith("busy")
        assert _loose(tmp_path) == [_key(0)]
    finally:
        unlock(fd)
    assert compact_relation(tmp_path, "fake_images").folded == 1


def test_damaged_and_quarantined_keys_stay_loose(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    for i in range(3):
        wh.write("fake_images", _key(i), _rows(i, 2))
    (tmp_path / "parquet" / "fake_images" / f"{_key(0)}.parquet").write_bytes(b"PAR1 garbage")
    held = tmp_path / "quarantine" / "parquet" / "fake_images" / _key(1)
    held.mkdir(parents=True)
    result = compact_relation(tmp_path, "fake_images")
    assert result.folded == 1 and _loose(tmp_path) == [_key(0), _key(1)]
    assert result.damaged == (f"{_key(0)}.parquet",)  # named, for `fakeimg verify`
    with pytest.warns(UserWarning, match=_key(0)):  # still named by every reader
        assert sorted(wh.read("images")["source"].unique()) == ["org01/model", "org02/model"]


def test_compact_home_compacts_every_table_and_the_union_views_follow(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    wh.write("fake_images", _key(0), _rows(0, 2))
    wh.write("model_failures", "m--x", [{"model_id": "org/m", "stage": "plan"}])
    results = {r.relation: r for r in compact_home(tmp_path)}
    assert results["fake_images"].folded == 1 and results["model_failures"].folded == 1
    assert results["hub_models"].skipped in ("no files", "nothing loose")
    assert wh.read("model_failures")["model_id"].to_list() == ["org/m"]
    assert wh.query("SELECT count(*) AS n FROM images")["n"].to_list() == [2]


# ---- verify and repair count compacted image rows --------------------------------------------


def _publish(home: Path, name: str, n: int = 3) -> list[dict]:
    writer = PartitionWriter(home, "fake", name, Warehouse(home))
    files = {f"{i:05d}.png": f"{name}-{i}".encode() for i in range(n)}
    rows = [{"image_id": f"fake:{name}:{i:05d}", "label": "fake", "source": name,
             "path": writer.path_of(f), "sha256": hashlib.sha256(data).hexdigest()}
            for i, (f, data) in enumerate(files.items())]
    writer.publish(files, rows)
    return rows


def test_repair_never_deletes_images_whose_rows_were_compacted(tmp_path: Path) -> None:
    rows = _publish(tmp_path, "org--a") + _publish(tmp_path, "org--b")
    assert compact_relation(tmp_path, "fake_images").folded == 2
    report = verify(tmp_path, repair=True)
    assert report.ok and report.n_rows == 6 and report.n_files_checked == 6, report.lines()
    assert not report.repaired
    assert all((tmp_path / r["path"]).is_file() for r in rows)
    one = verify(tmp_path, kind="fake", name="org--a", repair=True)  # one partition alone
    assert one.ok and one.n_rows == 3 and not one.repaired, one.lines()
    (tmp_path / rows[0]["path"]).unlink()  # a row without its file is still found
    kinds = [p.kind for p in verify(tmp_path).problems]
    assert kinds == ["missing_file"]


def test_a_damaged_compacted_file_is_named_and_keeps_every_image(tmp_path: Path) -> None:
    rows = _publish(tmp_path, "org--a")
    compact_relation(tmp_path, "fake_images")
    compacted_path(tmp_path / "parquet" / "fake_images").write_bytes(b"PAR1 not any more")
    report = verify(tmp_path, repair=True)
    assert any(p.kind == "bad_rows" and "compacted" in p.detail for p in report.problems)
    assert not report.repaired and all((tmp_path / r["path"]).is_file() for r in rows)
    with pytest.warns(UserWarning, match="data.parquet"):
        assert Warehouse(tmp_path).read("images").is_empty()


# ---- `fakeimg compact` and the sensor ---------------------------------------------------------


def test_compact_command(tmp_path: Path, monkeypatch, capsys) -> None:
    from fakeimg_assets.cli import main

    monkeypatch.setenv("FAKEIMG_HOME", str(tmp_path))
    assert main(["compact"]) == 2
    assert f"no fakeimg data at {tmp_path}" in capsys.readouterr().err
    wh = Warehouse(tmp_path)
    for i in range(3):
        wh.write("fake_images", _key(i), _rows(i, 2))
    assert main(["compact", "--table", "nope"]) == 2
    assert "argument --table: unknown relation 'nope'" in capsys.readouterr().err
    assert _loose(tmp_path) == [_key(i) for i in range(3)]  # nothing done
    assert main(["compact", "--table", "images"]) == 0
    out = capsys.readouterr().out
    assert "fake_images: 3 files folded (3 retired), 6 rows" in out
    assert "real_images: no files" in out and _loose(tmp_path) == []
    con = duckdb.connect(str(wh.database_path), read_only=True)  # the views follow at once
    assert con.execute("SELECT count(*) FROM images").fetchone()[0] == 6
    con.close()


def test_the_sensor_compacts_only_once_a_batch_is_over(tmp_path: Path) -> None:
    import dagster as dg

    from resources import WarehouseResource
    from sensors.compaction import build_compaction_sensor

    warehouse = WarehouseResource(home=str(tmp_path))
    sensor = build_compaction_sensor(min_loose_files=2)
    with pytest.raises(ValueError, match="min_loose_files must be >= 1, got 0"):
        build_compaction_sensor(min_loose_files=0)
    with dg.instance_for_test() as instance:
        def tick():  # noqa: ANN202
            return sensor(dg.build_sensor_context(instance=instance,
                                                  resources={"warehouse": warehouse}))

        Warehouse(tmp_path).write("fake_images", _key(0), _rows(0, 2))
        assert isinstance(tick(), dg.SkipReason)  # 1 file < 2
        Warehouse(tmp_path).write("fake_images", _key(1), _rows(1, 2))
        run = dg.DagsterRun(job_name="sample_model", run_id="a" * 36,
                            status=dg.DagsterRunStatus.STARTED)
        instance.add_run(run)
        skip = tick()
        assert isinstance(skip, dg.SkipReason) and "sample_model run is queued or in progress" in (
            skip.skip_message or "")
        instance.report_run_failed(run)
        request = tick()
        assert isinstance(request, dg.RunRequest) and request.run_key.startswith("compact-2-")


def test_compaction_keeps_the_order_every_reader_saw(tmp_path: Path) -> None:
    """Row order without ORDER BY is what the loose files gave (by file name, then row):
    studies that read rows in warehouse order get the same order, so the same numbers. A key
    that prefixes another (`m` and `m-b`) sorts by file name (`m-b.parquet` < `m.parquet`)."""
    wh = Warehouse(tmp_path)
    keys = ["fake--org--m", "fake--org--m-b", "fake--org--m.v2", "fake--org--a"]
    for j, key in enumerate(keys):
        rows = _rows(j, 4)
        wh.write("fake_images", key, [rows[k] for k in (2, 0, 3, 1)])  # not sorted inside

    def order() -> dict[str, list[str]]:
        return {"read": wh.read("fake_images")["image_id"].to_list(),
                "query": wh.query("SELECT image_id FROM fake_images")["image_id"].to_list()}

    before = order()
    assert before["read"] == before["query"]
    compact_relation(tmp_path, "fake_images")
    assert order() == before
    wh.write("fake_images", "fake--org--m", _rows(9, 2))  # a rewrite, then compacted again
    compact_relation(tmp_path, "fake_images")
    fresh = Warehouse(tmp_path / "fresh")  # the same files, never compacted
    for key in keys:
        fresh.write("fake_images", key, wh.read_key("fake_images", key))
    assert order() == {"read": fresh.read("fake_images")["image_id"].to_list(),
                       "query": fresh.query("SELECT image_id FROM fake_images")[
                           "image_id"].to_list()}


def test_the_compact_warehouse_job_folds_and_logs_each_table(tmp_path: Path) -> None:
    import dagster as dg

    from fakeimg_assets.jobs import ALL_JOBS, compact_warehouse_job
    from resources import WarehouseResource

    assert compact_warehouse_job in ALL_JOBS
    wh = Warehouse(tmp_path)
    for i in range(3):
        wh.write("fake_images", _key(i), _rows(i, 2))
    with dg.instance_for_test() as instance:
        result = compact_warehouse_job.execute_in_process(
            resources={"warehouse": WarehouseResource(home=str(tmp_path))}, instance=instance)
        assert result.success
        logged = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("fake_images: 3 files folded (3 retired), 6 rows" in m for m in logged)
    assert _loose(tmp_path) == []
    con = duckdb.connect(str(wh.database_path), read_only=True)  # the views follow at once
    assert con.execute("SELECT count(*) FROM images").fetchone()[0] == 6
    con.close()


def test_listed_loose_keys_never_name_the_compacted_file(tmp_path: Path) -> None:
    """A folder DuckDB cannot glob (a backslash) lists its loose keys; a damaged compacted
    file is not one of them."""
    from fakeimg_assets.warehouse.sources import RelationFiles

    folder = tmp_path / "a\\b" / "parquet" / "fake_images"
    files = RelationFiles(folder, (folder / "_schema.parquet", folder / f"{_key(0)}.parquet"),
                          ((folder / f"{_key(1)}.parquet", "bad"),
                           (compacted_path(folder), "No magic bytes")))
    sql = files.loose_keys_sql()
    assert sql == f"SELECT unnest(['_schema', '{_key(0)}', '{_key(1)}']::VARCHAR[])"


# ---- a compaction killed while it retires a file ----------------------------------------------


def _dead_pid() -> int:
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _killed_while_retiring(home: Path, key: str) -> Path:
    """What a compaction killed between renaming `key`'s loose file aside and putting it
    back leaves: the file under its aside name, no loose file."""
    loose = home / "parquet" / "fake_images" / f"{key}.parquet"
    aside = loose.with_name(f".{key}.retire.{_dead_pid()}.0badc0de.aside")
    loose.rename(aside)
    return aside


def test_repair_puts_back_what_a_killed_compaction_set_aside(tmp_path: Path) -> None:
    """The newer rows of a key re-written after it was compacted were set aside when the
    compaction died: repair puts them back before reading any row, so their images are
    never taken for orphans; a check without repair only reports it."""
    _publish(tmp_path, "org--a")
    assert compact_relation(tmp_path, "fake_images").folded == 1
    newer = _publish(tmp_path, "org--a", n=4)
    aside = _killed_while_retiring(tmp_path, "fake--org--a")
    looked = verify(tmp_path)
    assert any(p.kind == "leftover" and "set aside" in p.detail for p in looked.problems)
    assert aside.is_file()
    report = verify(tmp_path, repair=True)
    assert any("put back parquet/fake_images/fake--org--a.parquet" in n for n in report.notes)
    assert report.n_rows == 4 and all((tmp_path / r["path"]).is_file() for r in newer)
    assert not aside.exists() and _loose(tmp_path) == ["fake--org--a"]
    assert sorted(Warehouse(tmp_path).read("images")["image_id"]) == sorted(
        r["image_id"] for r in newer)


def test_the_next_compaction_puts_back_and_folds_a_set_aside_file(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    for i in range(2):
        wh.write("fake_images", _key(i), _rows(i, 2))
    compact_relation(tmp_path, "fake_images")
    wh.write("fake_images", _key(0), _rows(0, 3, salt="new"))
    wh.write("fake_images", f"{_key(1)}.5", _rows(1, 1, salt="dot"))
    aside = _killed_while_retiring(tmp_path, f"{_key(1)}.5")
    wh.write("fake_images", _key(1), _rows(1, 1, salt="later"))  # its writer sweeps `.<key>.`
    assert aside.is_file()  # no sweeper of dead writers' temp files takes it
    result = compact_relation(tmp_path, "fake_images")
    assert not aside.exists() and _loose(tmp_path) == []
    assert result.rows == 3 + 1 + 1
    assert wh.read_key("fake_images", _key(0))["sha256"].to_list() == ["0new0", "0new1", "0new2"]
    assert wh.read_key("fake_images", f"{_key(1)}.5")["sha256"].to_list() == ["1dot0"]


# ---- a compacted key whose newer file is quarantined ------------------------------------------


def test_a_quarantined_key_never_shows_its_older_compacted_rows(tmp_path: Path) -> None:
    """Compacted, re-written, then the newer file damaged and quarantined: the key shows no
    rows (as before any compaction), not its older compacted ones, and the files the
    quarantined rows may list are kept."""
    old = _publish(tmp_path, "org--a")
    _publish(tmp_path, "org--b")
    assert compact_relation(tmp_path, "fake_images").folded == 2
    newer = _publish(tmp_path, "org--a", n=4)
    (tmp_path / "parquet" / "fake_images" / "fake--org--a.parquet").write_bytes(b"PAR1 bad")
    report = verify(tmp_path, repair=True)
    assert report.quarantined and any(
        "older compacted rows of fake--org--a dropped" in n for n in report.notes), report.lines()
    assert report.n_rows == 3  # org--b's only
    wh = Warehouse(tmp_path)
    for name, frame in _everything(tmp_path).items():
        assert not any(i.startswith("fake:org--a:") for i in frame["image_id"]), name
    assert wh.read_key("fake_images", "fake--org--a").is_empty()
    assert not wh.has_key("fake_images", "fake--org--a")
    assert all((tmp_path / r["path"]).is_file() for r in newer)  # unproven: kept
    assert {r["path"] for r in old}.isdisjoint({r["path"] for r in newer})


def test_compaction_drops_compacted_rows_of_a_key_quarantined_meanwhile(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    for i in range(3):
        wh.write("fake_images", _key(i), _rows(i, 2))
    compact_relation(tmp_path, "fake_images")
    (tmp_path / "quarantine" / "parquet" / "fake_images" / _key(1)).mkdir(parents=True)
    result = compact_relation(tmp_path, "fake_images")
    assert (result.folded, result.dropped, result.rows) == (0, (_key(1),), 4)
    assert "stale compacted rows of 1 quarantined keys dropped, 4 rows" in result.summary()
    again = compact_relation(tmp_path, "fake_images")  # then nothing is left to do
    assert again.skipped == "nothing loose" and again.dropped == ()
    assert sorted(wh.read("images")["source"].unique()) == ["org00/model", "org02/model"]


def _newer_file_damaged_while_compacting(home: Path) -> int:
    """The published partitions compacted, org--a re-written and its newer file damaged,
    and the table's compaction lock taken, as a running compaction holds it (returned)."""
    assert compact_relation(home, "fake_images").folded >= 1
    _publish(home, "org--a", n=4)
    (home / "parquet" / "fake_images" / "fake--org--a.parquet").write_bytes(b"PAR1 bad")
    fd = open_locked(compacted_path(home / "parquet" / "fake_images").parent / ".lock",
                     wait=False)
    assert fd is not None
    return fd


def test_verify_never_counts_older_compacted_rows_while_a_compaction_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The compaction that would drop them stays busy past verify's wait: verify still
    leaves them out, and says to run it again."""
    import fakeimg_assets.integrity.verify as verify_module

    monkeypatch.setattr(verify_module, "COMPACTION_WAIT_S", 0.5)
    _publish(tmp_path, "org--a")
    fd = _newer_file_damaged_while_compacting(tmp_path)
    try:
        report = verify(tmp_path, repair=True)
    finally:
        unlock(fd)
    assert report.quarantined and report.n_rows == 0, report.lines()
    assert any("a compaction still ran after 0 s" in n for n in report.notes), report.notes


def test_verify_waits_for_running_compactions_once_in_all(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both image tables quarantine a compacted key's newer file while their compactions
    run past the wait: verify waits `COMPACTION_WAIT_S` in all, not once per table, and
    names both tables (a clock of the test's own: no real waiting)."""
    import types

    import fakeimg_assets.integrity.verify as verify_module

    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    monkeypatch.setattr(verify_module, "time", types.SimpleNamespace(
        monotonic=lambda: clock[0], sleep=sleep))
    monkeypatch.setattr(verify_module, "COMPACTION_WAIT_S", 10.0)
    locks = []
    for kind, table in (("fake", "fake_images"), ("real", "real_images")):
        for n in (3, 4):  # compacted, then re-written: the newer file is loose
            writer = PartitionWriter(tmp_path, kind, "org--a", Warehouse(tmp_path))
            files = {f"{i:05d}.png": f"{kind}-{n}-{i}".encode() for i in range(n)}
            writer.publish(files, [
                {"image_id": f"{kind}:org--a:{i:05d}", "label": kind, "source": "org--a",
                 "path": writer.path_of(f), "sha256": hashlib.sha256(data).hexdigest()}
                for i, (f, data) in enumerate(files.items())])
            if n == 3:
                assert compact_relation(tmp_path, table).folded == 1
        (tmp_path / "parquet" / table / f"{kind}--org--a.parquet").write_bytes(b"PAR1 bad")
        locks.append(open_locked(compacted_path(tmp_path / "parquet" / table).parent / ".lock",
                                 wait=False))
    try:
        report = verify(tmp_path, repair=True)
    finally:
        for fd in locks:
            unlock(fd)
    assert len(report.quarantined) == 2, report.lines()
    busy = [n for n in report.notes if "a compaction still ran after 10 s" in n]
    assert [n.split(":")[0] for n in busy] == ["parquet/fake_images", "parquet/real_images"]
    assert 10.0 <= clock[0] <= 10.25, clock  # once: per table it would be 20 s


def test_verify_waits_for_a_running_compaction_to_drop_older_compacted_rows(
        tmp_path: Path) -> None:
    """A compaction holds the table when verify quarantines a compacted key's newer file:
    verify waits for it, then drops the older compacted rows, so no reader sees them (their
    images were pruned when the newer file was written)."""
    import threading

    _publish(tmp_path, "org--a")
    _publish(tmp_path, "org--b")
    fd = _newer_file_damaged_while_compacting(tmp_path)
    releaser = threading.Timer(1.0, unlock, [fd])  # the running compaction ends a second later
    releaser.start()
    try:
        report = verify(tmp_path, repair=True)
    finally:
        releaser.join()
    assert any("older compacted rows of fake--org--a dropped" in n for n in report.notes), \
        report.notes
    sources = Warehouse(tmp_path).read("images")["source"].unique().to_list()
    assert sources == ["org--b"]


def test_verify_names_a_damaged_compacted_file_of_any_table(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    wh.write("model_stats", "a--b", [{"model_id": "a/b", "n_images": 2, "quarantined": False}])
    assert compact_relation(tmp_path, "model_stats").folded == 1
    assert verify(tmp_path).ok and verify(tmp_path).n_parquet_files == 1
    path = compacted_path(tmp_path / "parquet" / "model_stats")
    path.write_bytes(b"PAR1 not any more")
    report = verify(tmp_path, repair=True)
    (problem,) = report.problems
    assert problem.kind == "bad_rows" and problem.path == "parquet/model_stats/_compacted/data.parquet"
    assert "every reader skips the rows of model_stats" in problem.detail
    assert path.read_bytes() == b"PAR1 not any more"  # never moved or removed


def test_a_file_another_machine_set_aside_is_put_back_under_the_lock(tmp_path: Path) -> None:
    """A compaction killed on another machine of a shared home: its pid means nothing here
    (this one is even alive here). Only under the table's compaction lock is it known to
    have stopped, so `set_aside_files` alone does not list it, and the next compaction
    puts it back and folds it."""
    import os

    from fakeimg_assets.warehouse.compaction import set_aside_files

    wh = Warehouse(tmp_path)
    for i in range(2):
        wh.write("fake_images", _key(i), _rows(i, 2))
    compact_relation(tmp_path, "fake_images")
    wh.write("fake_images", _key(0), _rows(0, 3, salt="new"))
    loose = tmp_path / "parquet" / "fake_images" / f"{_key(0)}.parquet"
    aside = loose.with_name(f".{_key(0)}.retire.gpu-7~{os.getpid()}.0badc0de.aside")
    loose.rename(aside)
    assert set_aside_files(aside.parent) == []
    compact_relation(tmp_path, "fake_images")
    assert not aside.exists() and _loose(tmp_path) == []
    assert wh.read_key("fake_images", _key(0))["sha256"].to_list() == ["0new0", "0new1", "0new2"]
