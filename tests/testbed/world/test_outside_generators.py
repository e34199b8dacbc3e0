"""Generators outside the platform's pipelines (DCGAN, pixel-space DDPM), trained in the
miniature world and published as a collection folder: reproducible bytes, the layout
`fakeimg collection add` reads, images that are not flat, a cache that never retrains what
is current and never leaves half a collection, and specs that refuse bad values.

Tiny steps and image counts: each build takes a few seconds.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakeimg_assets.lib.family_groups import parse_family_group
from fakeimg_assets.testbed.collection_folder import CSV_COLUMNS, folder_files
from fakeimg_assets.testbed.world.outside import (
    BUILD_RECORD,
    KINDS,
    OutsideGeneratorSpec,
    build_outside_collection,
    default_outside,
    outside_build_record,
)
from fakeimg_assets.testbed.world.photos import COLOUR_PHOTOS

N = 6  # images per generator
HEADER = "generator,family,architecture,release_date,license"  # the collection contract
TINY = {"gan": 3, "pixel_diffusion": 2}


def tiny_specs(world_seed: int = 0) -> tuple[OutsideGeneratorSpec, ...]:
    return default_outside(world_seed, 1, steps=TINY)


def build(out: Path, specs: tuple[OutsideGeneratorSpec, ...], logs: list[str] | None = None
          ) -> Path:
    sink = [] if logs is None else logs
    return build_outside_collection(out, specs, n_images=N, log=sink.append)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("outside") / "collection", tiny_specs())


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        return np.asarray(im)


def _mtimes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns
            for p in root.rglob("*") if p.is_file()}  # fmt: skip


def test_layout_csv_and_record(built: Path) -> None:
    specs = tiny_specs()
    names = sorted(s.generator for s in specs)
    assert names == ["dcgan-0", "pixel-ddpm-0"]
    assert sorted(p.name for p in built.iterdir() if p.is_dir()) == names  # no real/ folder
    for name in names:
        files = sorted(p.name for p in (built / name).iterdir())
        assert files == [f"{i:05d}.png" for i in range(N)]
        assert all(_pixels(built / name / f).shape == (32, 32, 3) for f in files)
    assert (built / "generators.csv").read_text().splitlines()[0] == HEADER
    with (built / "generators.csv").open(newline="") as f:
        rows = {r["generator"]: r for r in csv.DictReader(f)}
    assert rows["dcgan-0"] == {"generator": "dcgan-0", "family": "gan",
                               "architecture": "dcgan", "release_date": "2018-01-15",
                               "license": "mit"}  # fmt: skip
    assert rows["pixel-ddpm-0"]["family"] == "pixel_diffusion"
    assert rows["pixel-ddpm-0"]["architecture"] == "ddpm-unet"
    assert {parse_family_group(r["family"]) for r in rows.values()} == {"gan", "pixel_diffusion"}

    record = outside_build_record(built)
    assert record is not None and len(record["cache_key"]) == 64
    assert record["files"] == folder_files(built)  # every PNG and the CSV, by sha256
    assert len(record["files"]) == 2 * N + 1
    stats = {g["generator"]: g for g in record["generators"]}
    assert stats["dcgan-0"]["losses"].keys() == {"discriminator", "generator"}
    assert stats["pixel-ddpm-0"]["primary_loss"] == "mse"
    for g in stats.values():
        assert g["steps"] == TINY[g["kind"]] and g["n_images"] == N
        assert g["train_seconds"] > 0 and g["sample_seconds"] > 0
        assert np.isfinite([g["first_loss"], g["last_loss"], g["high_freq_energy"]]).all()
        assert g["distinct_fraction"] == 1.0
        assert g["platform_quality"]["quarantine_reason"] is None  # the platform keeps them
        assert len(g["rgb_mean"]) == len(g["photos_rgb_mean"]) == 3


def test_images_are_not_flat_and_differ(built: Path) -> None:
    for name in ("dcgan-0", "pixel-ddpm-0"):
        images = np.stack([_pixels(p) for p in sorted((built / name).glob("*.png"))])
        assert images.reshape(N, -1).std(axis=1).min() > 2  # grey levels, each image
        flat = images.reshape(N, -1).astype(int)
        assert len({row.tobytes() for row in images.reshape(N, -1)}) == N
        assert np.abs(flat[0] - flat[1]).mean() > 1


def test_same_seed_same_bytes_other_seed_other_bytes(built: Path, tmp_path: Path) -> None:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # the build fixes its own thread count, then restores ours
    seen: dict[str, int] = {}
    try:
        again = build_outside_collection(
            tmp_path / "again", tiny_specs(), n_images=N,
            log=lambda m: seen.setdefault(m.split(" ")[0], torch.get_num_threads()))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)
    assert seen["dcgan-0"] == seen["pixel-ddpm-0"] == 2  # when each was trained and sampled
    assert folder_files(again) == folder_files(built)

    gan, ddpm = tiny_specs()
    other = build(tmp_path / "other", (dataclasses.replace(gan, seed=gan.seed + 1), ddpm))
    files, ref = folder_files(other), folder_files(built)
    changed = {p for p in ref if files.get(p) != ref[p]}
    assert changed == {f"dcgan-0/{i:05d}.png" for i in range(N)}  # the other kept its bytes
    losses = [{g["generator"]: g["losses"] for g in outside_build_record(root)["generators"]}
              for root in (built, other)]  # fmt: skip
    assert losses[0]["dcgan-0"] != losses[1]["dcgan-0"]  # trained from the seed, not only sampled
    assert losses[0]["pixel-ddpm-0"] == losses[1]["pixel-ddpm-0"]


def test_cache_hit_does_not_retrain_and_a_changed_spec_rebuilds(tmp_path: Path) -> None:
    out = tmp_path / "c"
    specs = tiny_specs()
    build(out, specs)
    before = _mtimes(out)
    record = outside_build_record(out)
    logs: list[str] = []
    build(out, specs, logs)
    assert any("up to date" in m for m in logs) and _mtimes(out) == before

    png = out / "pixel-ddpm-0/00003.png"  # tampered: rebuilt, not trusted
    png.write_bytes(png.read_bytes()[:-4] + b"\0\0\0\0")
    logs.clear()
    build(out, specs, logs)
    assert not any("up to date" in m for m in logs)
    assert folder_files(out) == record["files"]

    gan, ddpm = specs  # one more step: another build, the old files are gone
    changed = (dataclasses.replace(gan, generator="dcgan-x", steps=gan.steps + 1), ddpm)
    logs.clear()
    build(out, changed, logs)
    assert not any("up to date" in m for m in logs)
    assert outside_build_record(out)["cache_key"] != record["cache_key"]
    assert not (out / "dcgan-0").exists() and len(list((out / "dcgan-x").iterdir())) == N
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # no staging leftovers


def test_an_interrupted_build_leaves_the_previous_collection(tmp_path: Path) -> None:
    out = tmp_path / "c"
    specs = tiny_specs()
    build(out, specs)
    before = folder_files(out)
    gan, ddpm = specs

    def interrupt(message: str) -> None:
        if message.startswith("pixel-ddpm-0"):  # after the second generator trained
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_outside_collection(out, (dataclasses.replace(gan, seed=7), ddpm), n_images=N,
                                 log=interrupt)  # fmt: skip
    assert folder_files(out) == before
    assert outside_build_record(out)["files"] == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_a_foreign_folder_is_never_replaced(tmp_path: Path) -> None:
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="photos"):
        build(mine, tiny_specs())
    assert [p.name for p in mine.iterdir()] == ["holiday.jpg"]
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep")
    with pytest.raises(FileExistsError, match="not a folder"):
        build(a_file, tiny_specs())
    assert a_file.read_text() == "keep"
    with pytest.raises(ValueError, match="names no folder"):
        build(Path("/"), tiny_specs())


def test_an_empty_folder_is_filled_even_when_named_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")  # '.': staged beside the folder, not inside it
    assert build(Path("."), tiny_specs()) == tmp_path / "empty"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
    assert outside_build_record(tmp_path / "empty")["files"] == folder_files(tmp_path / "empty")


def test_an_unknown_kind_fails_naming_the_valid_kinds() -> None:
    with pytest.raises(ValueError, match="unknown outside generator kind 'vae'") as err:
        OutsideGeneratorSpec("vae-0", "vae", 1, ("coffee",), 3, "2020-01-01")
    assert all(kind in str(err.value) for kind in KINDS)
    with pytest.raises(ValueError, match="valid kinds: gan, pixel_diffusion"):
        default_outside(0, 1, steps={"stylegan": 3})


@pytest.mark.parametrize(("field", "value", "message"), [
    ("generator", "../escape", "invalid outside generator name"),
    ("generator", "a/b", "invalid outside generator name"),
    ("generator", "a--b", "'--'"),
    ("generator", "real", "reserved"),
    ("generator", "", "invalid outside generator name"),
    ("seed", -1, "seed must be"),
    ("seed", True, "seed must be"),
    ("steps", 0, "steps must be"),
    ("photos", (), "photos must be"),
    ("photos", ("camera",), "photos must be"),  # grayscale: not in the generator pool
    ("photos", "coffee", "photos must be"),  # a string is not a tuple of names
    ("release_date", "2021-13-01", "release_date"),
    ("release_date", "2021-1-1", "YYYY-MM-DD"),
    ("license", "MIT; rm -rf", "license"),
])  # fmt: skip
def test_bad_spec_values_are_refused(field: str, value: object, message: str) -> None:
    good = dict(generator="g", kind="gan", seed=1, photos=("coffee",), steps=3,
                release_date="2020-01-01")  # fmt: skip
    OutsideGeneratorSpec(**good)
    with pytest.raises(ValueError, match=message):
        OutsideGeneratorSpec(**{**good, field: value})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_images": 0}, "n_images"),
    ({"n_images": 10**9}, "n_images"),
    ({"threads": 0}, "threads"),
    ({"image_size": 24}, "power of two"),
    ({"image_size": 4096}, "power of two"),
])  # fmt: skip
def test_bad_build_arguments_are_refused_before_any_work(
    tmp_path: Path, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_outside_collection(tmp_path / "c", tiny_specs(), **{"n_images": N, **kwargs})
    assert not any(tmp_path.iterdir())
    gan, _ = tiny_specs()
    with pytest.raises(ValueError, match="duplicate"):
        build_outside_collection(tmp_path / "c", (gan, gan), n_images=N)


def test_default_outside_spreads_kinds_photos_and_seeds() -> None:
    specs = default_outside(3)
    assert [s.generator for s in specs] == ["dcgan-0", "dcgan-1", "pixel-ddpm-0",
                                            "pixel-ddpm-1"]  # fmt: skip
    assert [s.kind for s in specs] == ["gan", "gan", "pixel_diffusion", "pixel_diffusion"]
    assert len({s.seed for s in specs}) == 4 and all(s.seed >= 3000 + 500 for s in specs)
    assert {s.steps for s in specs if s.kind == "gan"} == {KINDS["gan"].default_steps}
    subsets = [set(s.photos) for s in specs]
    assert all(len(p) == 4 and p <= set(COLOUR_PHOTOS) for p in subsets)
    assert len({frozenset(p) for p in subsets}) == 4  # different subsets ...
    assert subsets[0] & subsets[1] and subsets[0] & subsets[2]  # ... that overlap
    assert default_outside(3) == specs and default_outside(4) != specs
    assert len(default_outside(0, 3)) == 6
    with pytest.raises(ValueError, match="n_per_kind"):
        default_outside(0, 0)


def test_record_is_json_with_quality_numbers_for_the_report(built: Path) -> None:
    text = (built / BUILD_RECORD).read_text()
    record = json.loads(text)
    assert record == outside_build_record(built)
    assert [s["generator"] for s in record["specs"]] == ["dcgan-0", "pixel-ddpm-0"]
    assert record["total_seconds"] > 0 and record["threads"] == 2
    assert next(csv.reader(io.StringIO((built / "generators.csv").read_text()))) == list(
        CSV_COLUMNS)
