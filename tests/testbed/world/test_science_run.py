"""`fakeimg science` end to end at toy size: a real world build, served over the Hub API,
crawled, sampled, split and scaled; the verdict and report come from the warehouse rows.

Toy sizes (a few optimizer steps) make the numbers meaningless; what is checked is that
every stage runs for real and the report says what the rows say. The full-size run is
`make science`, a benchmark (see README), never a timed test.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from fakeimg_assets.testbed.world.science import ScienceOptions, check_home, run_science
from fakeimg_assets.warehouse.store import Warehouse

TOY = ScienceOptions(
    generators=9, families=("sd1",), steps=4, vae_steps=3, images_per_model=10,
    sampling_steps=2, batch_size=10, draws=1, fake_images=4, epochs=1, image_size=32,
    seed=1, split_seed=None,
)
# split_seed None: the first seed that puts the toy world's three lineage groups on both
# sides, computed from the built world's lineage (sides are salted hashes of the bases'
# weights, so a fixed seed broke whenever the world's training code moved them).


@pytest.mark.slow
def test_toy_science_run_writes_rows_report_and_grids(home: Path) -> None:
    import torch

    torch.set_num_threads(1)
    finding, doc = run_science(home, TOY, log=lambda _m: None)
    rows = Warehouse(home).read("scaling_results").filter(pl.col("study_id") == doc["study_id"])
    main = rows.filter(pl.col("protocol") == "scaling")
    assert sorted(set(main["n_train_models"].to_list())) == [
        c["n_train_models"] for c in finding.curve
    ]
    assert finding.curve[0]["n_train_models"] == 1
    assert finding.curve[0]["ap_mean"] == pytest.approx(
        main.filter(pl.col("n_train_models") == 1)["ap"].mean()
    )
    assert rows.filter(pl.col("protocol") == "scaling_control").height >= 1
    out = home / "science"
    for name in ("report.md", "report.json", "scaling-curve.png", "grid-sd1.png"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["study_id"] == doc["study_id"] and report["finding"]["holds"] == finding.holds
    assert "Finding:" in (out / "report.md").read_text()
    images = Warehouse(home).read("images")
    reals = images.filter(pl.col("label") == "real")
    assert reals.height and set(reals["source"].to_list()) == {"world--photos"}
    assert set(images.filter(pl.col("label") == "fake")["source"].str.slice(0, 6)) == {"world/"}

    from benchmarks.science import entries

    names = [e["name"] for e in entries(report)]
    assert names[0].startswith("science:") and len(names) == 2


def test_a_home_with_another_hubs_models_is_refused(home: Path) -> None:
    check_home(home)  # fresh: fine
    Warehouse(home).write("hub_models", "crawl-1", [{"model_id": "pixelsmith/dreamscape-v1"}])
    with pytest.raises(ValueError, match="holds 1 models from another Hub.*dreamscape-v1"):
        check_home(home)
