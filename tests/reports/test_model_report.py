"""`model_report` on a real warehouse (Parquet + DuckDB) and a real Dagster instance:
every model once, quarantined first with the reason, then failed, numbers rounded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
from PIL import Image

from fakeimg_assets.warehouse.store import Warehouse
from tests.helpers.inline import table_rows, thumbnail_of

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _stats(model_id: str, *, black: float = 0.0, quarantined: bool = False, reason=None,
           at: dt.datetime = T0) -> dict:  # fmt: skip
    return {"model_id": model_id, "n_images": 24, "black_fraction": black,
            "constant_fraction": black, "duplicate_fraction": 1 / 24, "mean_luma": 101.123456,
            "mean_std_luma": 40.0, "mean_entropy": 6.987654, "mean_laplacian_var": 1234.56789,
            "sha256_failures": 0, "quarantined": quarantined, "quarantine_reason": reason,
            "computed_at": at}


def _failure(model_id: str, message: str, at: dt.datetime, stage: str = "download",
             refused: bool | None = False) -> dict:  # fmt: skip
    return {"model_id": model_id, "asset": "sampled_images", "stage": stage,
            "error_type": "ValueError", "message": message, "transient": False,
            "failed_at": at, "dagster_run_id": None, "refused": refused}


def _home(home: Path) -> Warehouse:
    wh = Warehouse(home)
    for model_id, family in (("a/ok", "latent_diffusion"), ("z/black", "latent_diffusion"),
                             ("m/broken", "gan"), ("b/recovered", "gan")):
        wh.write("model_metadata", model_id.replace("/", "--"), [{
            "model_id": model_id, "family_group": family, "kind": "pipeline",
            "fetched_at": T0}])
    wh.write("model_stats", "a--ok", [_stats("a/ok")])
    wh.write("model_stats", "z--black", [_stats(
        "z/black", black=1.0, quarantined=True, reason="100% of images are black (> 50%)")])
    wh.write("model_stats", "b--recovered", [_stats("b/recovered", at=T0 + dt.timedelta(1))])
    wh.write("model_failures", "f1", [
        _failure("m/broken", "first try", T0),
        _failure("m/broken", "unet weights truncated", T0 + dt.timedelta(hours=1), "load"),
        _failure("b/recovered", "429 too many requests", T0),  # before its stats: ok now
        _failure("x/no-metadata", "repo not found", T0, "check_inputs"),
        _failure("p/pickled", "pickle-only weights", T0, "plan", refused=True),
    ])
    return wh


def test_model_report_lists_every_model_quarantined_first(tmp_path: Path) -> None:
    from fakeimg_assets.definitions import build_resources
    from fakeimg_assets.reports.assets import model_report

    home = tmp_path / "home"
    _home(home)
    with dg.instance_for_test() as instance:
        result = dg.materialize([model_report], instance=instance,
                                resources=build_resources(home=str(home)))  # fmt: skip
        assert result.success
    meta = result.asset_materializations_for_node("model_report")[0].metadata
    rows = table_rows(meta["models_table"])
    assert [(r["status"], r["model_id"]) for r in rows] == [
        ("quarantined", "z/black"), ("failed", "m/broken"), ("failed", "x/no-metadata"),
        ("refused", "p/pickled"), ("ok", "a/ok"), ("ok", "b/recovered")]
    black, broken = rows[0], rows[1]
    assert black["quarantine_reason"] == "100% of images are black (> 50%)"
    assert black["black_fraction"] == 1.0 and black["family_group"] == "latent_diffusion"
    assert broken["latest_failure"] == "unet weights truncated"  # the latest of two
    assert broken["failed_stage"] == "sampled_images/load" and broken["n_images"] is None
    assert rows[3]["latest_failure"] == "pickle-only weights"  # a refusal, not a failure
    ok = rows[4]
    assert ok["duplicate_fraction"] == 0.0417 and ok["mean_entropy"] == 6.988  # rounded
    assert ok["mean_laplacian_var"] == 1234.568 and isinstance(ok["n_images"], int)
    assert rows[5]["latest_failure"] == "429 too many requests"  # shown, but stats are newer
    assert (meta["models"].value, meta["quarantined"].value, meta["failed"].value,
            meta["refused"].value, meta["ok"].value) == (6, 1, 2, 1, 2)
    assert meta["report_path"].value == "plots/model_report.png"
    with Image.open(home / meta["report_path"].value) as png:
        assert png.format == "PNG" and png.height > 7 * 16  # title, header and six rows
    thumbnail_of(meta["report"].value)


def test_the_report_caps_its_rows_and_says_how_many_were_left_out(tmp_path: Path) -> None:
    from fakeimg_assets.reports.model_table import model_counts, model_table
    from fakeimg_assets.reports.table_png import table_png

    wh = _home(tmp_path)
    wh.write("model_stats", "many", [_stats(f"q/m{i:03d}", quarantined=True, reason="dup")
                                     for i in range(120)])  # fmt: skip
    assert model_counts(wh)["models"] == 126 and model_counts(wh)["quarantined"] == 121
    first = model_table(wh, limit=100)
    assert first.height == 100 and set(first["status"]) == {"quarantined"}
    with pytest.raises(ValueError, match="limit must be >= 1"):
        model_table(wh, limit=0)
    from fakeimg_assets.lib.metadata_table import table_entries

    capped = table_entries("models_table", model_table(wh), max_rows=100)
    assert capped["models_table_rows_left_out"].value == 26
    tall = Image.open(__import__("io").BytesIO(table_png(model_table(wh), title="t")))
    short = Image.open(__import__("io").BytesIO(table_png(model_table(wh, limit=5), title="t")))
    assert tall.height == short.height + 96 * 16  # 100 rows and a "more" line vs 5 rows


def test_an_empty_warehouse_gives_an_empty_report(tmp_path: Path) -> None:
    from fakeimg_assets.reports.model_table import model_counts, model_table

    wh = Warehouse(tmp_path)
    assert model_table(wh).height == 0
    assert model_counts(wh) == {"models": 0, "quarantined": 0, "failed": 0, "refused": 0,
                                "ok": 0, "no_stats": 0}
