"""The demo home exported, loaded back, pushed to the local Hub and downloaded again (slow:
it needs the session's demo home). Prints the closing figures: export size and time, push
time."""

from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl
import pytest

from fakeimg_assets.export.checksums import read_sums, verify_sums
from fakeimg_assets.export.export import export_dataset
from fakeimg_assets.export.push import push_dataset, push_target
from fakeimg_assets.lib.paths import sha256_file
from fakeimg_assets.testbed.local_hub.server import HubServer
from fakeimg_assets.warehouse.store import Warehouse


@pytest.mark.slow
def test_demo_home_exports_loads_pushes_and_downloads(demo_home, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets
    from huggingface_hub import snapshot_download

    home, _ = demo_home
    out = tmp_path / "demo-export"
    t0 = time.perf_counter()
    report = export_dataset(home, out)
    export_s = time.perf_counter() - t0
    assert report.ok, report.problems
    files = [p for p in out.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    assert verify_sums(out) == []

    store = Warehouse(home)
    split = store.query("SELECT split, count(*) AS n FROM detector_splits WHERE split_id = ? "
                        "GROUP BY split", params=[report.split_id])
    quarantined = set(store.query("SELECT model_id FROM model_stats WHERE quarantined")
                      ["model_id"].to_list())
    left_out = store.query(
        "SELECT s.split, count(*) AS n FROM detector_splits s WHERE split_id = ? AND "
        "s.source IN (SELECT unnest(?::VARCHAR[])) GROUP BY s.split",
        params=[report.split_id, sorted(quarantined | set(report.restricted))])
    expected = {r["split"]: r["n"] for r in split.iter_rows(named=True)}
    for r in left_out.iter_rows(named=True):
        expected[r["split"]] -= r["n"]
    assert report.rows == expected
    df = pl.read_parquet(out / "data")
    assert not set(df["model_name"].drop_nulls()) & (quarantined | set(report.restricted))

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "ds-cache"))
    assert {s: ds[s].num_rows for s in ds} == expected
    monkeypatch.delenv("HF_HUB_OFFLINE")

    (tmp_path / "hub").mkdir()
    with HubServer(tmp_path / "hub", tokens=["hf_demo_write"]) as hub:
        target = push_target("fakeimg/demo-export", endpoint=hub.url, token="hf_demo_write")
        pushed = push_dataset(out, target)
        back = Path(snapshot_download("fakeimg/demo-export", repo_type="dataset",
                                      endpoint=hub.url, token=False,
                                      cache_dir=str(tmp_path / "hf-cache")))
    # the Hub cache's snapshot is symlinks to blobs: check every listed file through them
    assert all(sha256_file(back / rel) == digest for rel, digest in read_sums(back).items())
    assert {p.relative_to(back).as_posix() for p in back.rglob('*') if p.is_file()} == {
        *read_sums(back), 'SHA256SUMS'}
    again = datasets.load_dataset(str(back), cache_dir=str(tmp_path / "ds-cache-2"))
    assert {s: again[s].num_rows for s in again} == expected
    print(f"\nFIGURES demo export: {len(files)} files, {size} bytes ({size / 1e6:.2f} MB), "
          f"{sum(expected.values())} images, {export_s:.1f} s; push to the local hub "
          f"({pushed.transfer}): {pushed.seconds:.2f} s; rows {report.rows}; "
          f"restricted {sorted(report.restricted)}; quarantined {sorted(report.quarantined)}; "
          f"cpu {os.cpu_count()}")
