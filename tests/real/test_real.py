"""Real data: screening with reasons, the source registry, captions, native crops, prompts.

Pure functions here; the assets on a private loopback Hub are in test_real_assets.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakeimg_assets.real.assets import prompt_rows
from fakeimg_assets.real.captions import parse_caption_table
from fakeimg_assets.real.crops import crop_positions, plan_crops
from fakeimg_assets.real.photo_folder import RawPhoto, folder_photos
from fakeimg_assets.real.post import apply_post, parse_post, replay_spec
from fakeimg_assets.real.screen import ScreenPolicy, photo_id_of, screen_photos
from fakeimg_assets.real.sources import make_source
from fakeimg_assets.splits.sides import photo_side
from tests.helpers.images import colour_photo, png_bytes

# ---- screening


def test_screening_records_each_skip_reason() -> None:
    colour = colour_photo(1)
    gray = np.stack([colour_photo(2)[..., 0]] * 3, axis=-1)
    near_gray = np.clip(gray.astype(int) + np.random.default_rng(0).integers(-1, 2, gray.shape),
                        0, 255).astype(np.uint8)
    photos = [
        RawPhoto("ok.png", "a colour photo", png_bytes(colour)),
        RawPhoto("broken.jpg", "x", b"\xff\xd8\xff\xe0 not really a jpeg"),
        RawPhoto("empty.png", "x", b""),
        RawPhoto("gray.png", "x", png_bytes(gray)),
        RawPhoto("near_gray.png", "x", png_bytes(near_gray)),
        RawPhoto("tiny.png", "x", png_bytes(colour_photo(3, 40, 50))),
        # the same picture re-encoded as JPEG and shrunk: a perceptual duplicate
        RawPhoto("dup.jpg", "x", png_bytes(np.asarray(Image.fromarray(colour).resize((96, 72))),
                                           "JPEG", quality=85)),
        RawPhoto("other.png", "another photo", png_bytes(colour_photo(4))),
    ]
    verdicts = {v.name: v for v in screen_photos("src", photos, ScreenPolicy(min_side=64))}
    assert {n: v.skip_reason for n, v in verdicts.items()} == {
        "ok.png": None, "broken.jpg": "unreadable", "empty.png": "unreadable",
        "gray.png": "grayscale", "near_gray.png": "grayscale", "tiny.png": "tiny",
        "dup.jpg": "duplicate", "other.png": None,
    }
    assert verdicts["dup.jpg"].duplicate_of == verdicts["ok.png"].photo_id
    assert verdicts["ok.png"].photo_id == photo_id_of("src", photos[0].data)
    assert verdicts["ok.png"].photo_id.startswith("src:") and len(verdicts["ok.png"].photo_id) == 20
    assert "Error" in verdicts["broken.jpg"].detail  # the decoder's own words
    assert verdicts["ok.png"].pixels.shape == (96, 128, 3)


def test_unknown_source_fails_naming_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown real source 'flickr'.*folder.*hub_dataset"):
        make_source("flickr")
    with pytest.raises(ValueError, match="needs a folder"):
        make_source("folder")
    with pytest.raises(ValueError, match="needs a dataset repo id"):
        make_source("hub_dataset", hub=object())


def test_folder_captions_from_txt_json_and_tables(tmp_path: Path) -> None:
    for name in ("a", "b", "c", "d"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        (tmp_path / f"{name}.png").write_bytes(png_bytes(colour_photo(ord(name))))
    (tmp_path / "a.txt").write_text("caption from txt\n")
    (tmp_path / "b.json").write_text('{"caption": "caption from json"}')
    (tmp_path / "metadata.csv").write_text('file_name,text\nc.png,"caption, from csv"\n')
    (tmp_path / "sub" / "e.png").write_bytes(b"garbage")
    (tmp_path / "sub" / "metadata.jsonl").write_text('{"file_name": "e.png", "text": "nested"}\n')
    got = {p.name: p.caption for p in folder_photos(tmp_path)}
    assert got == {"a.png": "caption from txt", "b.png": "caption from json",
                   "c.png": "caption, from csv", "d.png": "a photo of d",
                   "sub/e.png": "nested"}
    assert parse_caption_table("m.jsonl", 'not json\n{"file_name": "./x.png", "caption": "y"}') == {
        "x.png": "y"}


# ---- native crops


def test_crops_are_exact_sizes_never_resampled_and_small_photos_skipped() -> None:
    photos = {"p:big": (300, 200), "p:mid": (120, 130), "p:small": (100, 60)}
    plan = plan_crops(photos, {(64, 64): 10, (128, 96): 4}, seed=3)
    sizes = {(c.width, c.height) for c in plan.crops}
    assert sizes == {(64, 64), (128, 96)}
    assert plan.skipped_small == {"64x64": ["p:small"], "128x96": ["p:mid", "p:small"]}
    assert sum((c.width, c.height) == (64, 64) for c in plan.crops) == 10  # balanced per size
    assert sum((c.width, c.height) == (128, 96) for c in plan.crops) == 4
    for c in plan.crops:
        pw, ph = photos[c.photo_id]
        assert 0 <= c.x <= pw - c.width and 0 <= c.y <= ph - c.height
    cells = crop_positions(300, 200, 64, 64, 12, seed=0, key="k")
    assert len(set(cells)) == 12  # grid cells first: 4 x 3 non-overlapping
    xs, ys = {x for x, _ in cells}, {y for _, y in cells}
    assert len(xs) == 4 and len(ys) == 3
    assert crop_positions(300, 200, 64, 64, 12, seed=0, key="k") == cells
    assert len(plan_crops(photos, {(64, 64): 2}, crops_per_photo=5).crops) == 10
    with pytest.raises(ValueError, match="reals_per_fake"):
        plan_crops(photos, {(64, 64): 2}, reals_per_fake=0)


# ---- prompts


def _photo(pid: str, caption: str, side: str, status: str = "kept") -> dict:
    return {"photo_id": pid, "caption": caption, "photo_split": side, "status": status,
            "source": "s"}


def test_prompt_pool_never_holds_a_test_side_caption() -> None:
    photos = [
        _photo("s:1", "train caption", "train"),
        _photo("s:2", "test caption", "test"),
        _photo("s:3", "shared caption", "train"),
        _photo("s:4", "shared caption", "test"),  # same words on the test side: excluded too
        _photo("s:5", "skipped caption", "train", status="skipped"),
    ]
    rows = prompt_rows(photos, "train_photos")
    assert [r["prompt"] for r in rows] == ["train caption"]
    assert {r["origin"] for r in rows} == {"train_photos"}
    corpus = prompt_rows([], "corpus", ["a red car", "", "a blue boat"])
    assert [r["prompt"] for r in corpus] == ["a red car", "a blue boat"]
    assert {r["origin"] for r in corpus} == {"corpus"}
    with pytest.raises(ValueError, match="no training-side photo"):
        prompt_rows([_photo("s:2", "test caption", "test")], "train_photos")
    with pytest.raises(ValueError, match="unknown prompt origin"):
        prompt_rows(photos, "everything")


# ---- post-processing


def test_post_processing_spec_seeded_and_replayable() -> None:
    im = Image.fromarray(colour_photo(5))
    assert apply_post(im, "", "k").post is None and apply_post(im, "", "k").format == "PNG"
    a = apply_post(im, "jpeg:60-95", "key-1")
    assert a.format == "JPEG" and a.post.startswith("jpeg:q=")
    assert apply_post(im, "jpeg:60-95", "key-1").data == a.data  # seeded by the image key
    qs = {apply_post(im, "jpeg:60-95", f"key-{i}").post for i in range(12)}
    assert len(qs) > 3  # a spread of qualities
    again = apply_post(im, replay_spec(a.post), "whatever")
    assert again.data == a.data
    r = apply_post(im, "resize:0.5+jpeg:90-90", "k")
    assert (r.width, r.height, r.post) == (64, 48, "resize:0.5+jpeg:q=90")
    for bad in ("jpeg:0-50", "resize:2", "blur:3", "jpeg:90+resize:0.5"):
        with pytest.raises(ValueError, match="post-processing"):
            parse_post(bad)


def test_photo_split_is_the_shared_side_function() -> None:
    verdicts = screen_photos("s", [RawPhoto(f"{i}.png", "c", png_bytes(colour_photo(10 + i)))
                                   for i in range(3)])
    for v in verdicts:
        assert photo_side(v.photo_id) in ("train", "test")


def test_fakes_and_reals_share_the_post_processing() -> None:
    """sampled_images runs `post_process` on its PNGs; reals run `apply_post` on pixels."""
    from types import SimpleNamespace

    from fakeimg_assets.lib.png import encode_png
    from fakeimg_assets.real.post import post_process, resize_factor

    im = Image.fromarray(colour_photo(6))
    fake = SimpleNamespace(png=encode_png(im), width=im.width, height=im.height)
    assert post_process(fake, "", "k").data == fake.png  # no option: bytes untouched
    a = post_process(fake, "jpeg:70-95", "fake:org/m:00001")
    b = apply_post(im, "jpeg:70-95", "fake:org/m:00001")
    assert (a.data, a.format, a.post) == (b.data, "JPEG", b.post)
    assert resize_factor("resize:0.5+jpeg:70-95") == 0.5 and resize_factor("") == 1.0
