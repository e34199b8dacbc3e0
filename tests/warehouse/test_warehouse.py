"""The warehouse on disk: atomic Parquet writes, lock-free reads, a portable home, and a
`warehouse.duckdb` the DuckDB CLI users have (duckdb-cli 1.5.x) can open."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from fakeimg_assets.integrity.verify import verify
from fakeimg_assets.summary import summarize
from fakeimg_assets.warehouse.schemas import all_relations
from fakeimg_assets.warehouse.store import Warehouse
from fakeimg_assets.warehouse.views import READABLE_STORAGE_VERSIONS, storage_version
from tests.helpers.repo import ROOT


def _stats(model_id: str, n: int) -> list[dict]:
    return [{"model_id": model_id, "n_images": n, "quarantined": False}]


def _home_with_rows(home: Path, n: int = 3) -> Warehouse:
    wh = Warehouse(home)
    wh.write("model_stats", "a--b", _stats("a/b", n))
    assert wh.ensure_views()
    return wh


def _python(code: str, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, **kw)


def _duckdb_cli() -> Path:
    exe = Path(sys.executable).parent / "duckdb"
    if not exe.exists():
        found = shutil.which("duckdb")
        if found is None:
            pytest.fail("the DuckDB CLI is missing: pip install 'duckdb-cli==1.5.6' (test extra)")
        exe = Path(found)
    return exe


def _cli(db: Path, sql: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(_duckdb_cli()), str(db), "-csv", "-c", sql], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


# -- crash safety of a single Parquet write ---------------------------------------------------

KILL_HALFWAY = """
import os, signal, sys
import polars as pl
from pathlib import Path
from fakeimg_assets.warehouse.store import Warehouse

real_write = pl.DataFrame.write_parquet

def write_half_then_die(self, file, *a, **kw):
    real_write(self, file, *a, **kw)        # the whole file, wherever the code writes it...
    size = os.path.getsize(file)
    with open(file, "r+b") as f:            # ...then cut it in half, as a kill mid-write would
        f.truncate(size // 2)
    os.kill(os.getpid(), signal.SIGKILL)

pl.DataFrame.write_parquet = write_half_then_die
Warehouse(Path(sys.argv[1])).write("model_stats", "a--b",
    [{"model_id": "a/b", "n_images": 99, "quarantined": False}])
"""


def test_parquet_write_killed_halfway_leaves_previous_file_intact(tmp_path: Path) -> None:
    wh = _home_with_rows(tmp_path / "home", n=3)
    proc = _python(KILL_HALFWAY, str(wh.home))
    assert proc.returncode == -9, proc.stderr  # the hook really killed it mid-write
    assert wh.read_key("model_stats", "a--b")["n_images"].to_list() == [3]
    assert wh.query("SELECT n_images FROM model_stats")["n_images"].to_list() == [3]
    leftovers = list((wh.home / "parquet" / "model_stats").glob(".a--b.*.tmp"))
    assert len(leftovers) == 1
    report = verify(wh.home)
    assert [p.kind for p in report.problems] == ["leftover"]
    assert "parquet/model_stats/.a--b." in report.problems[0].path
    wh.write("model_stats", "a--b", _stats("a/b", 4))  # the next write of the key cleans up
    assert not list((wh.home / "parquet" / "model_stats").glob(".a--b.*.tmp"))
    assert verify(wh.home).ok


# -- reads never need the database lock ------------------------------------------------------

HOLD_DATABASE = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])          # read-write, as a DuckDB CLI session would
con.execute("SELECT count(*) FROM model_stats").fetchall()
print("holding", flush=True)
time.sleep(120)
"""


def test_summary_and_writes_work_while_another_process_holds_the_database(
    tmp_path: Path,
) -> None:
    wh = _home_with_rows(tmp_path / "home", n=3)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_DATABASE, str(wh.database_path)],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(duckdb.IOException, match="lock"):  # the old way of reading
            duckdb.connect(str(wh.database_path), read_only=True)
        text = summarize(wh.home)
        assert "models sampled: 1" in text
        wh.write("model_stats", "c--d", _stats("c/d", 1))
        assert "models sampled: 2" in summarize(wh.home)
        t0 = time.perf_counter()
        assert wh.ensure_views(force=True, attempts=1) is False  # skipped, retried later
        assert time.perf_counter() - t0 < 2.0
    finally:
        holder.kill()
        holder.wait()
    assert wh.ensure_views(force=True)


# -- a portable home -------------------------------------------------------------------------


def test_copied_home_reads_its_own_data_and_moved_home_still_works(tmp_path: Path) -> None:
    original = _home_with_rows(tmp_path / "original", n=3)
    copy = tmp_path / "copy"
    shutil.copytree(original.home, copy)
    original.write("model_stats", "a--b", _stats("a/b", 777))  # alter the original
    assert Warehouse(copy).query("SELECT n_images FROM model_stats")["n_images"].to_list() == [3]
    assert "models sampled: 1" in summarize(copy)
    # the summary refreshed the copy's views: Python and the CLI read the copy's rows
    con = duckdb.connect(str(copy / "warehouse.duckdb"), read_only=True)
    assert con.execute("SELECT n_images FROM model_stats").fetchall() == [(3,)]
    con.close()
    moved = tmp_path / "moved"
    shutil.move(str(copy), moved)
    shutil.rmtree(original.home)
    assert "models sampled: 1" in summarize(moved)
    con = duckdb.connect(str(moved / "warehouse.duckdb"), read_only=True)
    assert con.execute("SELECT n_images FROM model_stats").fetchall() == [(3,)]
    con.close()


def test_stale_copy_opened_in_duckdb_cli_fails_clearly_never_reads_the_original(
    tmp_path: Path,
) -> None:
    original = _home_with_rows(tmp_path / "original", n=3)
    copy = tmp_path / "copy"
    shutil.copytree(original.home, copy)
    original.write("model_stats", "a--b", _stats("a/b", 777))
    proc = _cli(copy / "warehouse.duckdb", "SELECT n_images FROM model_stats", tmp_path)
    assert proc.returncode != 0 and "777" not in proc.stdout
    assert str(original.home) in proc.stderr and "fakeimg verify" in proc.stderr
    shutil.rmtree(original.home)  # moved: DuckDB names the stale location itself
    proc = _cli(copy / "warehouse.duckdb", "SELECT n_images FROM model_stats", tmp_path)
    assert proc.returncode != 0 and str(original.home) in proc.stderr
    assert Warehouse(copy).ensure_views()  # what any fakeimg command does first
    proc = _cli(copy / "warehouse.duckdb", "SELECT n_images FROM model_stats", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["n_images", "3"]


# -- the DuckDB CLI users have ---------------------------------------------------------------


def test_duckdb_cli_1_5_opens_the_warehouse_and_queries_a_view(tmp_path: Path) -> None:
    wh = _home_with_rows(tmp_path / "home", n=5)
    assert storage_version(wh.database_path) in READABLE_STORAGE_VERSIONS
    version = subprocess.run([str(_duckdb_cli()), "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("v1."), version.stdout
    proc = _cli(wh.database_path, "SELECT model_id, n_images FROM model_stats", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["model_id,n_images", "a/b,5"]


def test_database_written_by_the_old_code_is_migrated(tmp_path: Path) -> None:
    home = tmp_path / "home"
    wh = Warehouse(home)
    wh.write("model_stats", "a--b", _stats("a/b", 2))
    con = duckdb.connect(str(wh.database_path))  # duckdb 2.x default: the newest format
    con.execute(wh.view_sql("model_stats"))  # the old code's unguarded view
    con.execute("CREATE TABLE my_notes AS SELECT 'keep me' AS note")
    con.close()
    (home / "parquet" / ".views-v1").write_text(str(wh.database_path))  # the old stamp
    assert storage_version(wh.database_path) not in READABLE_STORAGE_VERSIONS
    assert _cli(wh.database_path, "SELECT 1", tmp_path).returncode != 0  # what users hit
    assert wh.ensure_views()
    assert storage_version(wh.database_path) in READABLE_STORAGE_VERSIONS
    assert not (home / "parquet" / ".views-v1").exists()
    proc = _cli(wh.database_path, "SELECT n_images FROM model_stats; SELECT note FROM my_notes",
                tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["n_images", "2", "note", "keep", "me"]
    assert not list(home.glob(".warehouse.duckdb.*"))


def test_views_are_rebuilt_when_a_relation_gains_a_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import polars as pl

    from fakeimg_assets.warehouse import schemas

    wh = _home_with_rows(tmp_path / "home", n=3)
    grown = {**schemas.RELATIONS["model_stats"], "added_later": pl.Utf8}
    monkeypatch.setitem(schemas.RELATIONS, "model_stats", grown)
    wh.write("model_stats", "a--b", _stats("a/b", 4))
    assert wh.ensure_views()
    con = duckdb.connect(str(wh.database_path), read_only=True)
    cols = [r[0] for r in con.execute("DESCRIBE model_stats").fetchall()]
    con.close()
    assert cols[-1] == "added_later"


# -- Warehouse.query makes the views its SQL names --------------------------------------------


def _image(kind: str, source: str) -> list[dict]:
    return [{"image_id": f"{kind}:{source}:0", "label": kind, "source": source,
             "path": f"images/{kind}/{source.replace('/', '--')}/v1/0.png", "sha256": "0" * 64}]


def test_query_makes_only_the_views_its_sql_names(tmp_path: Path, monkeypatch) -> None:
    """Each view costs a scan's bind: a query gets those it names (any case, in a CTE or a
    subquery), and a union view still reads every part."""
    wh = Warehouse(tmp_path)
    wh.write("model_stats", "a--b", _stats("a/b", 2))
    wh.write("fake_images", "fake--a--b", _image("fake", "a/b"))
    wh.write("real_images", "real--photos", _image("real", "photos"))
    made: list[str] = []
    view_sql = Warehouse.view_sql

    def counting(self, relation, sources=None, **kwargs):  # noqa: ANN001, ANN202, ANN003
        made.append(relation)
        return view_sql(self, relation, sources, **kwargs)

    monkeypatch.setattr(Warehouse, "view_sql", counting)
    assert wh.query("SELECT count(*) AS n FROM Images")["n"].to_list() == [2]
    assert made == ["images"]
    made.clear()
    both = ("WITH s AS (SELECT * FROM model_stats) SELECT s.model_id, (SELECT count(*) FROM "
            "images i WHERE i.source = s.model_id) AS n FROM s")
    assert wh.query(both).to_dicts() == [{"model_id": "a/b", "n": 1}]
    assert sorted(made) == ["images", "model_stats"]
    made.clear()  # duckdb.get_table_names binds a USING join, and fails: the parse tree tells
    using = ("SELECT s.model_id, count(*) AS n FROM model_stats s JOIN images i ON "
             "i.source = s.model_id JOIN model_stats t USING (model_id) GROUP BY ALL")
    assert wh.query(using).to_dicts() == [{"model_id": "a/b", "n": 1}]
    assert sorted(made) == ["images", "model_stats"]
    with pytest.raises(duckdb.CatalogException, match="no_such_table"):
        wh.query("SELECT * FROM no_such_table")
    assert Warehouse.relations_in("SELEC nonsense") is None  # then every view is made
    made.clear()
    with pytest.raises(duckdb.ParserException):
        wh.query("SELEC nonsense")
    assert sorted(made) == sorted(all_relations())


# -- fakeimg's own reads: a cursor per query on this process's in-memory DuckDB ----------------

def _home_with_models(root: Path, name: str, models: list[str]) -> Warehouse:
    wh = Warehouse(root / name)
    for i, model in enumerate(models):
        wh.write("model_stats", f"k{i}", [{"model_id": model, "n_images": i, "quarantined": False}])
    return wh


def test_shared_reads_of_two_homes_never_see_each_others_views(tmp_path: Path) -> None:
    """Views on the shared in-memory database are TEMP, each cursor's own: a second home's
    views, made while the first home's cursor is open, do not replace the first's."""
    a = _home_with_models(tmp_path, "a", ["a/one", "a/two"])
    b = _home_with_models(tmp_path, "b", ["b/one"])
    con_a = a.connect_memory(["model_stats"], private=False)
    con_b = b.connect_memory(["model_stats"], private=False)
    try:
        sql = "SELECT model_id FROM model_stats ORDER BY 1"
        assert [r[0] for r in con_a.execute(sql).fetchall()] == ["a/one", "a/two"]
        assert [r[0] for r in con_b.execute(sql).fetchall()] == ["b/one"]
    finally:
        con_a.close()
        con_b.close()
    assert a.query(sql)["model_id"].to_list() == ["a/one", "a/two"]
    assert b.query(sql)["model_id"].to_list() == ["b/one"]


def test_a_query_that_creates_something_runs_on_a_database_of_its_own(tmp_path: Path) -> None:
    """`Warehouse.query` runs a CREATE (or SET, PRAGMA ...) on a private in-memory database,
    discarded after it: nothing it makes is seen by a later query, of this home or another."""
    import duckdb

    wh = _home_with_models(tmp_path, "a", ["a/one"])
    wh.query("CREATE TABLE leaked AS SELECT model_id FROM model_stats")
    wh.query("CREATE MACRO leaked_macro() AS 1")
    with pytest.raises(duckdb.CatalogException, match="leaked"):
        wh.query("SELECT * FROM leaked")
    with pytest.raises(duckdb.CatalogException, match="leaked_macro"):
        _home_with_models(tmp_path, "b", ["b/one"]).query("SELECT leaked_macro()")


def test_shared_reads_from_many_threads_get_their_own_homes_rows(tmp_path: Path) -> None:
    """Threads query two homes at once, each on its own cursor of the shared database."""
    from concurrent.futures import ThreadPoolExecutor

    homes = {"a": _home_with_models(tmp_path, "a", [f"a/{i}" for i in range(5)]),
             "b": _home_with_models(tmp_path, "b", [f"b/{i}" for i in range(3)])}
    sql = "SELECT count(*) AS n, min(model_id) AS first FROM model_stats"

    def read(name: str) -> tuple[str, int, str]:
        row = homes[name].query(sql).row(0)
        return name, row[0], row[1]

    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(read, ["a", "b"] * 20))
    assert set(seen) == {("a", 5, "a/0"), ("b", 3, "b/0")}
