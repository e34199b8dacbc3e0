"""`DecodedImages`: a study's runs share decoding, and get exactly the bytes they would get
without it (the science run's results must not move when it gets faster)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from fakeimg_assets.detection.data import DecodedImages, ImageDataset
from fakeimg_assets.detection.synthetic import make_synthetic_dataset
from fakeimg_assets.detection.train import TrainConfig, predict, train_detector


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list:
    # 44 px: both the train resize and the eval resize + crop have work to do
    return make_synthetic_dataset(tmp_path_factory.mktemp("decoded"), 6, 6, size=44, seed=7)


def _train(samples: list, out: Path, seed: int, decoded: DecodedImages | None):
    cfg = TrainConfig(backbone="tiny-resnet", epochs=2, batch_size=4, seed=seed, num_threads=1)
    return train_detector(samples, out, cfg, decoded=decoded)


def test_a_shared_cache_gives_bit_identical_training_and_scores(samples, tmp_path: Path) -> None:
    plain = _train(samples, tmp_path / "plain", 3, None)
    decoded = DecodedImages()
    _train(samples, tmp_path / "warm", 5, decoded)  # another run of the study fills it
    assert decoded.misses and decoded.items
    cached = _train(samples, tmp_path / "cached", 3, decoded)  # and this one reads from it
    assert decoded.hits >= len(samples)
    a = (plain.checkpoint_dir / "model.safetensors").read_bytes()
    assert a == (cached.checkpoint_dir / "model.safetensors").read_bytes()
    paths = [s[0] for s in samples]
    want = predict(plain.checkpoint_dir, paths)
    first = predict(plain.checkpoint_dir, paths, decoded=decoded)
    again = predict(plain.checkpoint_dir, paths, decoded=decoded)  # served from the cache
    assert np.array_equal(want, first) and np.array_equal(want, again)


def test_items_of_other_transforms_never_mix(samples) -> None:
    paths = [s[0] for s in samples[:3]]
    decoded = DecodedImages()
    for size, resize in ((32, 36), (24, 40), (32, 44)):
        for train in (False, True):
            plain = ImageDataset(paths, None, size, train=train, resize_size=resize, seed=2)
            shared = ImageDataset(paths, None, size, train=train, resize_size=resize, seed=2,
                                  decoded=decoded)
            for i in range(len(paths)):
                for _ in range(2):  # a miss, then a hit
                    assert np.array_equal(plain[i].numpy(), shared[i].numpy()), (size, resize)


def test_the_bound_holds_and_workers_get_it_empty(samples) -> None:
    paths = [s[0] for s in samples]
    one = ImageDataset(paths[:1], None, 32, train=False, resize_size=36)[0]
    per_item = one.element_size() * one.nelement()
    decoded = DecodedImages(max_bytes=3 * per_item)
    ds = ImageDataset(paths, None, 32, train=False, resize_size=36, decoded=decoded)
    for i in range(len(paths)):
        ds[i]
    assert len(decoded.items) == 3 and decoded.bytes == 3 * per_item
    copy = pickle.loads(pickle.dumps(ds))
    assert copy.decoded is not None and copy.decoded.items == {} and copy.decoded.bytes == 0
    with pytest.raises(ValueError, match="max_bytes"):
        DecodedImages(max_bytes=-1)


def test_an_unreadable_file_still_names_itself(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    for train in (False, True):
        ds = ImageDataset([bad], None, 32, train=train, decoded=DecodedImages())
        with pytest.raises(ValueError, match="bad.png"):
            ds[0]
