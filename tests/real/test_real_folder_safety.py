"""Real-photo folders a user did not fill: symlinks out of the folder, huge or long captions,
a caption table with one huge field, rotated JPEGs, and folders larger than memory.

Real files and real symlinks in tmp folders; the `real_photos` asset on real Dagster.
"""

from __future__ import annotations

import csv
import gc
import io
import weakref
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from PIL import Image

from fakeimg_assets.real.captions import (
    MAX_CAPTION_CHARS,
    MAX_CAPTION_FILE_BYTES,
    parse_caption_table,
)
from fakeimg_assets.real.crops import cut_crops, plan_crops
from fakeimg_assets.real.photo_folder import RawPhoto, folder_photos
from fakeimg_assets.real.screen import decode, screen_photos
from fakeimg_assets.real.sources import REAL_SOURCES, RealSource
from tests.helpers.images import colour_photo, png_bytes

CANARY = "canary-secret-9b2e"


def _jpeg_with_orientation(a: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation  # EXIF Orientation
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def _by_name(folder: Path) -> dict[str, RawPhoto]:
    return {p.name: p for p in folder_photos(folder)}


# ---- symlinks out of the folder


def test_symlinks_out_of_the_folder_are_refused_by_name_and_never_read(tmp_path: Path) -> None:
    folder, outside = tmp_path / "photos", tmp_path / "outside"
    (folder / "sub").mkdir(parents=True)
    outside.mkdir()
    secret_png = png_bytes(colour_photo(99))
    (outside / "secret.png").write_bytes(secret_png)
    (outside / "more.png").write_bytes(png_bytes(colour_photo(98)))
    (outside / "canary.txt").write_text(CANARY)
    (outside / "meta.csv").write_text(f"file_name,text\nx.png,{CANARY}\n")
    good = png_bytes(colour_photo(1))
    (folder / "good.png").write_bytes(good)
    (folder / "out.png").symlink_to(outside / "secret.png")  # a photo file out of the folder
    (folder / "outdir").symlink_to(outside)  # a folder out of the folder
    (folder / "alias.png").symlink_to(folder / "good.png")  # inside: read through it
    (folder / "broken.png").symlink_to(tmp_path / "nowhere.png")
    (folder / "cap.png").write_bytes(png_bytes(colour_photo(2)))
    (folder / "cap.txt").symlink_to(outside / "canary.txt")  # caption file out of the folder
    (folder / "sub" / "x.png").write_bytes(png_bytes(colour_photo(3)))
    (folder / "sub" / "metadata.csv").symlink_to(outside / "meta.csv")  # caption table out
    (folder / "sub" / "y.png").write_bytes(png_bytes(colour_photo(4)))
    (folder / "sub" / "y.txt").write_text("its own caption")  # a sidecar needs no table

    photos = _by_name(folder)
    assert set(photos) == {"good.png", "out.png", "outdir", "alias.png", "broken.png",
                           "cap.png", "sub/x.png", "sub/y.png"}  # nothing under outdir/
    for name in ("out.png", "outdir"):
        assert (photos[name].reason, photos[name].data) == ("unsafe_path", b"")
        assert f"'{name}' is a symlink to" in photos[name].error
        assert "outside" in photos[name].error and "not read" in photos[name].error
    assert photos["alias.png"].data == good and photos["alias.png"].error is None
    assert photos["broken.png"].reason == "unreadable"
    assert "broken or looping symlink" in photos["broken.png"].error
    assert (photos["cap.png"].reason, photos["cap.png"].data) == ("bad_caption", b"")
    assert "caption file 'cap.txt' is a symlink to" in photos["cap.png"].error
    assert photos["sub/x.png"].reason == "bad_caption"
    assert "caption table 'sub/metadata.csv' refused" in photos["sub/x.png"].error
    assert photos["sub/y.png"].caption == "its own caption" and photos["sub/y.png"].error is None
    assert all(CANARY not in p.caption for p in photos.values())
    assert all(secret_png != p.data for p in photos.values())

    verdicts = {v.name: v for v in screen_photos("s", photos.values())}
    assert {n: v.skip_reason for n, v in verdicts.items()} == {
        "alias.png": None, "good.png": "duplicate", "out.png": "unsafe_path",
        "outdir": "unsafe_path", "broken.png": "unreadable", "cap.png": "bad_caption",
        "sub/x.png": "bad_caption", "sub/y.png": None,
    }
    assert "is a symlink to" in verdicts["out.png"].detail


def test_a_hub_dataset_snapshot_reads_through_its_cache_links(tmp_path: Path) -> None:
    """Snapshot files are symlinks into the repo's blobs: inside `within`, so they are read;
    a link out of the repo's cache folder is refused like any other."""
    repo = tmp_path / "datasets--o--n"
    blobs, snap = repo / "blobs", repo / "snapshots" / "abc"
    blobs.mkdir(parents=True)
    (snap / "images").mkdir(parents=True)
    (blobs / "b1").write_bytes(png_bytes(colour_photo(5)))
    (blobs / "b2").write_text("file_name,text\nimages/a.png,from the table\n")
    (tmp_path / "secret.png").write_bytes(png_bytes(colour_photo(6)))
    (snap / "images" / "a.png").symlink_to(blobs / "b1")
    (snap / "metadata.csv").symlink_to(blobs / "b2")
    (snap / "images" / "evil.png").symlink_to(tmp_path / "secret.png")
    photos = {p.name: p for p in folder_photos(snap, within=repo)}
    assert photos["images/a.png"].caption == "from the table" and photos["images/a.png"].data
    assert photos["images/evil.png"].reason == "unsafe_path"
    assert photos["images/evil.png"].data == b""
    # without the cache folder as the boundary, the blob links leave the snapshot: refused
    assert {p.name: p.reason for p in folder_photos(snap)} == {
        "images/a.png": "unsafe_path", "images/evil.png": "unsafe_path"}


# ---- caption size and length


def test_caption_files_and_captions_are_capped(tmp_path: Path) -> None:
    for name in ("huge", "long", "edge", "badjson", "big"):
        (tmp_path / f"{name}.png").write_bytes(png_bytes(colour_photo(len(name) + ord(name[0]))))
    with open(tmp_path / "huge.txt", "wb") as fh:  # a 50 MB caption file, sparse on disk
        fh.truncate(50 * 2**20)
    (tmp_path / "long.txt").write_text("word " * 1000)  # 5,000 characters in a small file
    (tmp_path / "edge.txt").write_text("e" * MAX_CAPTION_CHARS)  # exactly at the limit
    (tmp_path / "badjson.json").write_text('{"caption": "unterminated')
    with open(tmp_path / "big.png", "r+b") as fh:  # a 300 MiB photo file, sparse
        fh.truncate(300 * 2**20)
    photos = _by_name(tmp_path)
    assert photos["huge.png"].reason == "bad_caption"
    assert f"over the limit of {MAX_CAPTION_FILE_BYTES} bytes" in photos["huge.png"].error
    assert "'huge.txt'" in photos["huge.png"].error and photos["huge.png"].caption == ""
    assert photos["long.png"].reason == "bad_caption"
    assert "4999 characters, over the limit of 4096" in photos["long.png"].error
    assert photos["edge.png"].error is None and len(photos["edge.png"].caption) == 4096
    assert photos["badjson.png"].reason == "bad_caption"
    assert "'badjson.json' is not valid JSON" in photos["badjson.png"].error
    assert photos["big.png"].reason == "too_large" and photos["big.png"].data == b""
    assert "photo 'big.png' is 314572800 bytes, over the limit" in photos["big.png"].error


def test_a_csv_field_over_128_kib_loses_only_that_caption(tmp_path: Path) -> None:
    long_caption = "x" * (200 * 1024)
    with open(tmp_path / "metadata.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file_name", "text"])
        writer.writerow(["a.png", "a short caption"])
        writer.writerow(["b.png", long_caption])
        writer.writerow(["c.png", "another, with a comma"])
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.png").write_bytes(png_bytes(colour_photo(ord(name))))
    limit_before = csv.field_size_limit()
    photos = _by_name(tmp_path)
    assert photos["a.png"].caption == "a short caption"
    assert photos["c.png"].caption == "another, with a comma"
    assert photos["b.png"].reason == "bad_caption" and photos["b.png"].data == b""
    assert "caption for 'b.png' in 'metadata.csv' is 204800 characters" in photos["b.png"].error
    assert csv.field_size_limit() == limit_before  # the process-wide limit is put back
    parsed = parse_caption_table("metadata.csv", (tmp_path / "metadata.csv").read_text())
    assert parsed["a.png"] == "a short caption" and isinstance(parsed["b.png"], ValueError)


def test_an_unreadable_caption_table_is_named_for_every_photo_it_should_caption(
    tmp_path: Path,
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "metadata.csv").write_bytes(b"file_name,text\nq.png,caf\xe9\n")  # latin-1
    (tmp_path / "sub" / "q.png").write_bytes(png_bytes(colour_photo(7)))
    (tmp_path / "sub" / "r.png").write_bytes(png_bytes(colour_photo(8)))
    (tmp_path / "sub" / "r.txt").write_text("caption beside it")
    (tmp_path / "top.png").write_bytes(png_bytes(colour_photo(9)))  # not under the broken table
    photos = _by_name(tmp_path)
    assert photos["sub/q.png"].reason == "bad_caption"
    assert "caption table 'sub/metadata.csv' is not UTF-8 text" in photos["sub/q.png"].error
    assert photos["sub/r.png"].caption == "caption beside it"
    assert photos["top.png"].caption == "a photo of top" and photos["top.png"].error is None
    (tmp_path / "sub" / "metadata.csv").write_bytes(b'file_name,text\n"q.png,unclosed\n')
    assert "is not valid CSV" in _by_name(tmp_path)["sub/q.png"].error


# ---- EXIF orientation


@pytest.mark.parametrize(("orientation", "turns"), [(6, -1), (8, 1), (1, 0)])
def test_exif_orientation_is_applied_when_decoding(orientation: int, turns: int) -> None:
    stored = colour_photo(11, h=72, w=128)  # landscape as stored; 6 and 8 display it as portrait
    rgb, fmt, _ = decode(_jpeg_with_orientation(stored, orientation))
    shown = np.rot90(stored, k=turns)
    assert fmt == "JPEG" and rgb.shape == shown.shape
    assert np.abs(rgb.astype(int) - shown.astype(int)).mean() < 6  # JPEG noise only
    if turns:
        wrong = np.rot90(stored, k=-turns)
        assert np.abs(rgb.astype(int) - wrong.astype(int)).mean() > 20  # the right way round
    verdict = next(screen_photos("s", [RawPhoto("r.jpg", "c", _jpeg_with_orientation(
        stored, orientation))]))
    assert (verdict.height, verdict.width) == shown.shape[:2]


# ---- one photo at a time


def test_folder_source_reads_each_photo_only_when_asked(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.png").write_bytes(png_bytes(colour_photo(ord(name))))
    photos = folder_photos(tmp_path)
    first = next(photos)
    assert first.name == "a.png" and first.data
    (tmp_path / "b.png").unlink()  # gone after the first photo was handed out
    rest = {p.name: p for p in photos}
    assert rest["b.png"].data == b"" and rest["b.png"].reason == "unreadable"
    assert rest["c.png"].data == (tmp_path / "c.png").read_bytes()


class _Tracked(bytearray):
    """Photo bytes whose lifetime a test can watch (bytes cannot be weakly referenced)."""


@pytest.mark.slow
def test_real_photos_holds_one_photo_at_a_time(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fakeimg_assets.definitions import build_resources
    from fakeimg_assets.real.assets import real_photos
    from fakeimg_assets.warehouse.store import Warehouse
    from resources import ComputeResource

    files = [(f"p{i}.png", png_bytes(colour_photo(40 + i))) for i in range(6)]
    files.append(("portrait.jpg", _jpeg_with_orientation(colour_photo(60, h=72, w=128), 6)))
    alive: list[weakref.ref] = []
    held: list[int] = []  # photos still alive each time the source reads the next one

    def photos():
        for name, data in files:
            gc.collect()
            held.append(sum(ref() is not None for ref in alive))
            tracked = _Tracked(data)
            alive.append(weakref.ref(tracked))
            yield RawPhoto(name, f"a photo called {name}", tracked)

    monkeypatch.setitem(
        REAL_SOURCES, "tracked", lambda name, options: RealSource(
            "tracked", name or "tracked", photos, "tracked photos")
    )
    cfg = {"ops": {"real_photos": {"config": {"source": "tracked"}}}}
    res = build_resources(home=str(home), endpoint="http://127.0.0.1:9",
                          compute=ComputeResource(device="cpu", batch_size=2))
    with dg.instance_for_test() as instance:
        result = dg.materialize([real_photos], resources=res, instance=instance, run_config=cfg)
    assert result.success
    assert len(held) == len(files) and max(held) <= 1  # at most the photo just screened
    rows = {r["name"]: r for r in Warehouse(home).read("real_photos").to_dicts()}
    assert all(r["status"] == "kept" for r in rows.values()), rows
    assert (rows["portrait.jpg"]["width"], rows["portrait.jpg"]["height"]) == (72, 128)
    assert (home / rows["p0.png"]["path"]).read_bytes() == files[0][1]


def test_kept_crops_do_not_keep_their_photo_alive() -> None:
    """real_images keeps up to 16 crops for its preview: a numpy view would pin each whole
    photo in memory; the crops are copies, so the photo goes as soon as it is cut."""
    rgb, _, _ = decode(png_bytes(colour_photo(70, h=200, w=300)))
    specs = plan_crops({"p": (300, 200)}, {(64, 64): 3}, seed=1).crops
    kept = [crop for _, crop in cut_crops(rgb, specs)]
    for spec, crop in zip(specs, kept, strict=True):
        assert crop.shape == (64, 64, 3)
        assert np.array_equal(crop, rgb[spec.y:spec.y + 64, spec.x:spec.x + 64])
    photo = weakref.ref(rgb)
    del rgb
    gc.collect()
    assert photo() is None and len(kept) == 3


def test_real_photos_config_knows_sources_registered_at_run_time(monkeypatch) -> None:
    """The run config checks `source` against the live registry: an unknown kind is refused
    naming the known ones, and a source registered after import is accepted."""
    import pydantic

    from fakeimg_assets.real.assets import RealPhotosConfig

    with pytest.raises(pydantic.ValidationError, match="'nope' is no real source.*skimage"):
        RealPhotosConfig(source="nope")
    monkeypatch.setitem(REAL_SOURCES, "tracked", lambda name, options: None)
    assert RealPhotosConfig(source="tracked").source == "tracked"
