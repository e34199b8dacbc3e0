"""One storage table per asset: union views under the contract names, and homes written by
the old layout (shared `images`, `image_stats`, `detector_runs` folders) split on first use
without losing a row, also when an earlier split was interrupted."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from fakeimg_assets.warehouse.migrate import LEGACY_FOLDERS, migrate_legacy_layout
from fakeimg_assets.warehouse.schemas import UNION_VIEWS, schema_of, to_frame
from fakeimg_assets.warehouse.store import SCHEMA_FILE, Warehouse
from tests.helpers.repo import ROOT

DEMO = ROOT / "data" / "demo"
NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

# old folder -> {file key: (storage table it belongs to, rows)}
OLD_FILES: dict[str, dict[str, tuple[str, int]]] = {
    "images": {"fake--org--a": ("fake_images", 3), "fake--org--b": ("fake_images", 2),
               "real--skimage": ("real_images", 4)},
    "image_stats": {"fake--org--a": ("fake_image_stats", 3),
                    "real--skimage": ("real_image_stats", 4)},
    "detector_runs": {"tiny-resnet-20250101T000000-abcd1234": ("trained_detectors", 1),
                      "scaling-20250101T000000-abcd1234": ("scaling_detectors", 5),
                      "tiny-resnet-20250101T000000-abcd1234-protocols": ("protocol_detectors", 2)},
}


def _rows(relation: str, key: str, n: int, tag: str = "old") -> pl.DataFrame:
    """`n` rows of `relation` whose id column names the key, the row and `tag`."""
    id_col = "run_id" if relation == "detector_runs" else "image_id"
    return to_frame(relation, [{id_col: f"{tag}:{key}:{i}"} for i in range(n)])


def _old_home(home: Path) -> dict[str, int]:
    """Files written straight into the old shared folders, as the old code left them."""
    for old, files in OLD_FILES.items():
        folder = home / "parquet" / old
        folder.mkdir(parents=True)
        pl.DataFrame(schema=schema_of(old)).write_parquet(folder / SCHEMA_FILE)
        for key, (_, n) in files.items():
            _rows(old, key, n).write_parquet(folder / f"{key}.parquet")
    return {old: sum(n for _, n in files.values()) for old, files in OLD_FILES.items()}


def _ids(frame: pl.DataFrame) -> set[str]:
    return set(frame[frame.columns[0]].to_list())


def _expected_ids(old: str) -> set[str]:
    return {i for key, (_, n) in OLD_FILES[old].items() for i in _ids(_rows(old, key, n))}


def test_old_layout_home_is_split_on_first_use_and_every_row_stays_visible(tmp_path: Path) -> None:
    _old_home(tmp_path)
    wh = Warehouse(tmp_path)
    for old in OLD_FILES:  # through the union name, in Python and in SQL
        assert _ids(wh.read(old)) == _expected_ids(old), old
    assert not any((tmp_path / "parquet" / old).exists() for old in OLD_FILES)
    for old, files in OLD_FILES.items():  # each file in its storage table, under its name
        for key, (table, n) in files.items():
            assert wh.read_key(table, key).height == n, (table, key)
            assert wh.read_key(old, key).height == n, (old, key)  # read_key of a union
    assert wh.ensure_views()
    con = duckdb.connect(str(wh.database_path), read_only=True)
    try:
        for old in OLD_FILES:
            got = {r[0] for r in con.sql(f"SELECT {_rows(old, 'k', 0).columns[0]} FROM {old}").fetchall()}
            assert got == _expected_ids(old), old
            parts = sum(con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in UNION_VIEWS[old])
            assert parts == len(got), old
    finally:
        con.close()


def test_an_interrupted_split_finishes_and_a_newer_file_wins(tmp_path: Path) -> None:
    _old_home(tmp_path)
    root = tmp_path / "parquet"
    # killed mid-way: one file moved, one linked but its old name not yet removed
    (root / "fake_images").mkdir()
    os.replace(root / "images" / "fake--org--a.parquet", root / "fake_images" / "fake--org--a.parquet")
    (root / "trained_detectors").mkdir()
    os.link(root / "detector_runs" / "tiny-resnet-20250101T000000-abcd1234.parquet",
            root / "trained_detectors" / "tiny-resnet-20250101T000000-abcd1234.parquet")
    # and the new code wrote one key again before the split (newer): it must not be clobbered
    newer = _rows("images", "real--skimage", 1, tag="new")
    (root / "real_images").mkdir()
    newer.write_parquet(root / "real_images" / "real--skimage.parquet")

    moved = migrate_legacy_layout(root)
    assert migrate_legacy_layout(root) == []  # idempotent: nothing left to do
    assert not any((root / old).exists() for old in LEGACY_FOLDERS)
    assert {p.relative_to(root).as_posix() for p in moved} == {
        "fake_images/fake--org--b.parquet", "fake_image_stats/fake--org--a.parquet",
        "real_image_stats/real--skimage.parquet",
        "scaling_detectors/scaling-20250101T000000-abcd1234.parquet",
        "protocol_detectors/tiny-resnet-20250101T000000-abcd1234-protocols.parquet",
    }  # the linked file and the one the newer write replaced were only dropped
    wh = Warehouse(tmp_path)
    images = _ids(wh.read("images"))
    assert images == (_expected_ids("images") - _ids(_rows("images", "real--skimage", 4))) | _ids(newer)
    assert _ids(wh.read("detector_runs")) == _expected_ids("detector_runs")
    assert _ids(wh.read("image_stats")) == _expected_ids("image_stats")


def test_writes_to_a_union_name_fail_naming_the_storage_tables(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    for union, parts in UNION_VIEWS.items():
        with pytest.raises(ValueError, match=", ".join(parts)):
            wh.write(union, "k", [])
        with pytest.raises(ValueError, match=", ".join(parts)):
            wh.delete(union, "k")
    wh.write("fake_images", "fake--x", _rows("images", "fake--x", 2))
    wh.write("real_images", "real--y", _rows("images", "real--y", 1))
    assert wh.read("images").height == 3
    assert wh.query("SELECT count(*) AS n FROM images")["n"][0] == 3


@pytest.mark.skipif(not (DEMO / "parquet").is_dir(), reason="no demo home in data/demo")
def test_a_copy_of_the_demo_home_keeps_every_row(tmp_path: Path) -> None:
    """The real demo home (copied; data/ is never touched): old layout or new, the union
    names show the same rows before and after the split."""
    home = tmp_path / "demo"
    shutil.copytree(DEMO / "parquet", home / "parquet")
    before = {}
    for old in OLD_FILES:  # whichever layout the demo is in: old folder plus storage tables
        folders = [home / "parquet" / f for f in (old, *UNION_VIEWS[old])]
        files = [f for d in folders if d.is_dir() for f in d.glob("*.parquet")
                 if not f.name.startswith(("_", "."))]
        before[old] = sum(pl.read_parquet(f).height for f in files)
    wh = Warehouse(home)
    for old in OLD_FILES:
        assert wh.read(old).height == before[old], old
        assert sum(wh.read(t).height for t in UNION_VIEWS[old]) == before[old], old
        assert not (home / "parquet" / old).exists()
    assert wh.ensure_views()
    con = duckdb.connect(str(wh.database_path), read_only=True)
    try:
        for old in OLD_FILES:
            assert con.sql(f"SELECT count(*) FROM {old}").fetchall()[0][0] == before[old], old
    finally:
        con.close()
    assert before["images"] > 0
