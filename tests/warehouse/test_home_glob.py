"""A home whose path holds glob characters (`[`, `]`, `*`, `?`, `{`, `}`, a backslash) reads
its own files and never a sibling's: DuckDB and polars both glob such paths, and the
pattern `h[o]me*?` matches the sibling folders `homes` and `home1`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from fakeimg_assets.integrity.parquet_health import DamagedParquetWarning, read_parquet_file
from fakeimg_assets.integrity.publish import PartitionWriter
from fakeimg_assets.integrity.verify import verify
from fakeimg_assets.summary import summarize
from fakeimg_assets.warehouse.sources import duckdb_path, sql_str
from fakeimg_assets.warehouse.store import Warehouse
from fakeimg_assets.warehouse.views import DatabaseSkippedWarning
from resources.warehouse import WarehouseResource

GLOB_HOME = "h[o]me*?"
SIBLINGS = ("homes", "home1", "home")  # `homes`, `home1` match h[o]me*?; `home` matches h[o]me


def _stats(model_id: str) -> list[dict]:
    return [{"model_id": model_id, "n_images": 1, "quarantined": False}]


def _publish(home: Path, name: str, n: int) -> None:
    wh = Warehouse(home)
    writer = PartitionWriter(home, "fake", name, wh)
    files = {f"{i:05d}.png": f"{home.name}-{name}-{i}".encode() for i in range(n)}
    rows = [{"image_id": f"fake:{name}:{i}", "label": "fake", "source": name.replace("--", "/"),
             "path": writer.path_of(f), "sha256": hashlib.sha256(d).hexdigest()}
            for i, (f, d) in enumerate(files.items())]
    writer.publish(files, rows)


def _sibling(base: Path, name: str) -> Path:
    """Another home with more models, whose ids carry its name: read by mistake, they show."""
    home = base / name
    wh = Warehouse(home)
    for i in range(3):
        wh.write("model_stats", f"{name}--m{i}", _stats(f"{name}/m{i}"))
    wh.write("model_stats", "shared--key", _stats(f"{name}/shared"))
    _publish(home, "sib--model", 5)
    assert wh.ensure_views()
    return home


def _files(home: Path) -> dict[str, bytes]:
    return {p.relative_to(home).as_posix(): p.read_bytes()
            for p in sorted(home.rglob("*")) if p.is_file() and p.name != ".views.json"}


def _cli(db: Path, sql: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "duckdb"
    assert exe.exists(), "the DuckDB CLI is missing: pip install 'duckdb-cli==1.5.6' (test extra)"
    return subprocess.run([str(exe), str(db), "-csv", "-c", sql], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture()
def homes(tmp_path: Path) -> tuple[Path, dict[str, dict[str, bytes]]]:
    siblings = {name: _sibling(tmp_path, name) for name in SIBLINGS}
    home = tmp_path / GLOB_HOME
    wh = Warehouse(home)
    wh.write("model_stats", "own--model", _stats("own/model"))
    _publish(home, "own--model", 2)
    return home, {name: _files(path) for name, path in siblings.items()}


def test_glob_home_reads_only_its_own_files_everywhere(homes, tmp_path: Path) -> None:
    home, before = homes
    wh = Warehouse(home)
    text = summarize(home)
    assert "models sampled: 1" in text and "fake images: 2" in text, text
    assert "own/model" in text and not any(s in text for s in SIBLINGS)
    assert wh.query("SELECT model_id FROM model_stats")["model_id"].to_list() == ["own/model"]
    assert wh.query("SELECT count(*) AS n FROM images")["n"].to_list() == [2]
    assert wh.read("model_stats")["model_id"].to_list() == ["own/model"]
    assert wh.read_key("model_stats", "shared--key").height == 0  # only the siblings have it
    assert wh.read_key("images", "fake--sib--model").height == 0

    assert wh.ensure_views()
    con = duckdb.connect(str(wh.database_path), read_only=True)
    assert con.execute("SELECT model_id FROM model_stats").fetchall() == [("own/model",)]
    assert con.execute("SELECT count(*) FROM images").fetchall() == [(2,)]
    con.close()
    # written after the views were built (no rebuild): the escaped glob reads it
    wh.write("model_stats", "new--model", _stats("new/model"))
    proc = _cli(wh.database_path, "SELECT model_id FROM model_stats ORDER BY 1", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["model_id", "new/model", "own/model"]

    report = verify(home, repair=True)
    assert report.ok and report.n_rows == 2, report.lines()
    for name, files in before.items():
        assert _files(tmp_path / name) == files, name  # no sibling read, touched or removed


def test_glob_home_with_a_damaged_file_lists_escaped_paths(homes, tmp_path: Path) -> None:
    home, before = homes
    wh = Warehouse(home)
    wh.write("model_stats", "two--model", _stats("two/model"))
    damaged = home / "parquet" / "model_stats" / "own--model.parquet"
    os.truncate(damaged, damaged.stat().st_size // 2)
    with pytest.warns(DamagedParquetWarning, match="own--model.parquet"):
        assert wh.ensure_views()
        assert wh.query("SELECT model_id FROM model_stats")["model_id"].to_list() == [
            "two/model"]
    proc = _cli(wh.database_path, "SELECT model_id FROM model_stats", tmp_path)
    assert proc.stdout.split() == ["model_id", "two/model"], proc.stderr
    verify(home, repair=True)
    for name, files in before.items():
        assert _files(tmp_path / name) == files, name


def test_an_escaped_missing_path_fails_instead_of_reading_a_sibling(homes) -> None:
    home, _ = homes
    missing = home / "parquet" / "model_stats" / "shared--key.parquet"  # the siblings' key
    con = duckdb.connect()
    with pytest.raises(duckdb.IOException, match="No files found"):
        con.execute(f"SELECT * FROM read_parquet({sql_str(duckdb_path(missing))})").fetchall()
    # what the escaping prevents: the raw path is a pattern matching the siblings' files
    raw = con.execute(f"SELECT model_id FROM read_parquet({sql_str(missing.as_posix())})")
    assert sorted(r[0] for r in raw.fetchall()) == ["home1/shared", "homes/shared"]
    con.close()
    with pytest.raises(FileNotFoundError):
        read_parquet_file(missing)
    assert pl.read_parquet(missing)["model_id"].to_list()  # polars' default globs too


@pytest.mark.parametrize("name", ["a{b,c}", "q]r"])
def test_homes_with_braces_or_brackets_read_their_own_rows(tmp_path: Path, name: str) -> None:
    for sibling in ("ab", "qr", "a{b,c}x"):
        Warehouse(tmp_path / sibling).write("model_stats", "s--m", _stats(f"{sibling}/m"))
    home = tmp_path / name
    res = WarehouseResource(home=str(home))
    res.write("model_stats", "own--model", _stats("own/model"))
    assert summarize(home).count("models sampled: 1") == 1
    res.write("model_stats", "new--model", _stats("new/model"))
    proc = _cli(home / "warehouse.duckdb", "SELECT model_id FROM model_stats ORDER BY 1",
                tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["model_id", "new/model", "own/model"]


def test_backslash_home_never_lets_duckdb_open_another_homes_database(tmp_path: Path) -> None:
    """DuckDB opens `x\\y/warehouse.duckdb` as `x/y/warehouse.duckdb`: another home's."""
    other = tmp_path / "x" / "y"
    Warehouse(other).write("model_stats", "o--m", _stats("other/m"))
    assert Warehouse(other).ensure_views()
    other_db = (other / "warehouse.duckdb").read_bytes()
    home = tmp_path / "x\\y"
    res = WarehouseResource(home=str(home))
    with pytest.warns(DatabaseSkippedWarning, match="backslash"):
        res.write("model_stats", "own--model", _stats("own/model"))
    with pytest.warns(DatabaseSkippedWarning):
        text = summarize(home)
    assert "models sampled: 1" in text and "other/m" not in text
    assert res.query("SELECT model_id FROM model_stats")["model_id"].to_list() == ["own/model"]
    assert not (home / "warehouse.duckdb").exists()
    assert (other / "warehouse.duckdb").read_bytes() == other_db
    assert [p.name for p in other.iterdir() if "duckdb" in p.name] == ["warehouse.duckdb"]
