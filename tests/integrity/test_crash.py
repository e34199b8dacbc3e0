"""`kill -9` at any point of a partition, then a rerun: no row without its file, no file
without its row, no leftovers.

Each crash is a real subprocess materializing `sampled_images` against the loopback Hub;
a test-only hook (installed by the driver below, never by the code under test) sends the
process SIGKILL at the chosen point. The partition was sampled once before, so every kill
lands on a home that already has rows and files to lose.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from fakeimg_assets.integrity.check import FILES_CONSISTENT
from fakeimg_assets.integrity.verify import verify
from fakeimg_assets.lib.paths import model_slug
from fakeimg_assets.models.assets import model_metadata, sampled_images
from fakeimg_assets.real.assets import prompts, real_photos
from fakeimg_assets.warehouse.store import Warehouse
from tests.helpers.repo import ROOT
from tests.helpers.zoo import pick

pytestmark = pytest.mark.slow

SAMPLING = {"ops": {"sampled_images": {"config": {"images_per_model": 3, "steps": 2}}}}

DRIVER = r'''
import os, shutil, signal, sys
from pathlib import Path

point, nth, model_id, home, endpoint, dagster_tmp = sys.argv[1:7]
nth = int(nth)
slug = model_id.replace("/", "--")
calls = [0]


def hit() -> bool:
    calls[0] += 1
    return calls[0] >= nth


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


if point == "download":  # mid-download: the nth file's body is in its temp file, not renamed
    import huggingface_hub.file_download as fd
    real_get = fd.http_get
    def hooked(*a, **kw):
        real_get(*a, **kw)
        if hit():
            die()
    fd.http_get = hooked
elif point == "sample":  # while the pipeline is producing images
    from fakeimg_assets.sampling import sample as sample_stage
    real_encode = sample_stage.encode_png
    def hooked(image):
        png = real_encode(image)
        if hit():
            die()
        return png
    sample_stage.encode_png = hooked
elif point == "stage":  # while image files are written into the staging folder
    from fakeimg_assets.integrity import publish
    real_write = publish.atomic_write_bytes
    def hooked(path, data):
        real_write(path, data)
        if hit():
            die()
    publish.atomic_write_bytes = hooked
elif point == "publish":  # staging renamed to its version, rows not written yet
    real_replace = os.replace
    def hooked(src, dst, *a, **kw):
        real_replace(src, dst, *a, **kw)
        if os.path.basename(os.fspath(src)).startswith(".staging-"):
            die()
    os.replace = hooked
elif point == "rows":  # halfway through writing the images Parquet file
    import polars as pl
    real_parquet = pl.DataFrame.write_parquet
    def hooked(self, file, *a, **kw):
        real_parquet(self, file, *a, **kw)
        if f"fake--{slug}" in os.path.basename(os.fspath(file)):
            with open(file, "r+b") as f:
                f.truncate(os.path.getsize(file) // 2)
            die()
    pl.DataFrame.write_parquet = hooked
elif point == "prune":  # rows written, halfway through removing the previous version
    from fakeimg_assets.integrity import publish
    def hooked(path):
        files = sorted(p for p in Path(path).rglob("*") if p.is_file())
        if files:
            files[0].unlink()
        die()
    publish.remove_path = hooked
else:
    raise SystemExit(f"unknown crash point {point}")

import dagster as dg
from fakeimg_assets.definitions import build_resources
from fakeimg_assets.models.assets import sampled_images
from resources import ComputeResource

resources = build_resources(home=home, endpoint=endpoint,
                            compute=ComputeResource(device="cpu", batch_size=2))
with dg.instance_for_test(temp_dir=dagster_tmp) as instance:
    instance.add_dynamic_partitions("hub_models", [model_id])
    dg.materialize([sampled_images], partition_key=model_id, resources=resources,
                   instance=instance, raise_on_error=False,
                   run_config={"ops": {"sampled_images": {"config": {
                       "images_per_model": 3, "steps": 2}}}})
print(f"crash point {point} #{nth} was never reached", flush=True)
'''

POINTS = [("download", 2), ("sample", 2), ("stage", 2), ("publish", 1), ("rows", 1),
          ("prune", 1)]


def _materialize(assets: list, home: Path, hub_url: str, model_id: str, **kw):
    from fakeimg_assets.definitions import build_resources
    from resources import ComputeResource

    resources = build_resources(home=str(home), endpoint=hub_url,
                                compute=ComputeResource(device="cpu", batch_size=2))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hub_models", [model_id])
        return dg.materialize(assets, resources=resources, instance=instance, **kw)


@pytest.fixture(scope="module")
def sampled_home(tmp_path_factory: pytest.TempPathFactory, hub_url: str, zoo_catalog):
    """A home where one model was sampled once (rows and files to lose)."""
    model_id = pick(zoo_catalog, expect="ok", architecture="sd1").model_id
    home = tmp_path_factory.mktemp("crash-base")
    assert _materialize([real_photos, prompts], home, hub_url, model_id).success
    for asset, cfg in ((model_metadata, None), (sampled_images, SAMPLING)):
        assert _materialize([asset], home, hub_url, model_id, partition_key=model_id,
                            run_config=cfg).success
    assert verify(home).ok
    return home, model_id


def _image_rows(home: Path, model_id: str):
    return Warehouse(home).read_key("images", f"fake--{model_slug(model_id)}")


@pytest.mark.parametrize(("point", "nth"), POINTS, ids=[p for p, _ in POINTS])
def test_kill_9_then_rerun_leaves_rows_and_files_consistent(
    point: str, nth: int, sampled_home, hub_url: str, tmp_path: Path
) -> None:
    base, model_id = sampled_home
    home = tmp_path / "home"
    shutil.copytree(base, home)  # also a copied home: rows hold paths relative to it
    shutil.rmtree(home / "hf-cache", ignore_errors=True)  # so the rerun must download again
    before = sorted(_image_rows(home, model_id)["path"])

    env = {**os.environ, "PYTHONPATH": str(ROOT), "FAKEIMG_HOME": str(home),
           "HF_ENDPOINT": hub_url}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DRIVER), point, str(nth), model_id, str(home),
         hub_url, str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == -9, f"not killed at {point}: rc {proc.returncode}\n{proc.stdout}" \
        f"\n{proc.stderr[-3000:]}"

    # right after the kill: every row still has its file (the old ones or the new ones)
    after_kill = verify(home)
    assert not [p for p in after_kill.problems if p.kind not in ("orphan", "leftover")], \
        after_kill.lines()
    if point in ("download", "sample", "stage", "publish", "rows"):
        assert sorted(_image_rows(home, model_id)["path"]) == before

    rerun = _materialize([sampled_images], home, hub_url, model_id, partition_key=model_id,
                         run_config=SAMPLING)
    assert rerun.success
    (check,) = rerun.get_asset_check_evaluations()
    assert check.check_name == FILES_CONSISTENT and check.passed

    report = verify(home)
    assert report.ok, report.lines()
    rows = _image_rows(home, model_id)
    assert rows.height == 3 and sorted(rows["path"]) != before
    versions = list((home / "images" / "fake" / model_slug(model_id)).iterdir())
    assert len(versions) == 1, versions  # the previous version and all leftovers are gone
    assert not list((home / "parquet").rglob(".*.tmp"))
    assert not list((home / "hf-cache").rglob(".*.tmp"))  # a killed download's body is swept
