"""Training data: sample validation, real/fake balance, per-epoch order, the image dataset.

Everything random here is a pure function of (seed, epoch, index), so a resumed run sees
exactly the batches an uninterrupted one would, whatever the worker count.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fakeimg_assets.detection.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    OP_COUNT_RANGE,
    eval_transform,
    resize_shorter,
    resize_size_for,
    sample_rng,
    train_transform,
)

Sample = tuple[Path, int, str]  # path, label (1 = fake), source (model or real dataset)


def check_files_exist(paths: Sequence[Path]) -> None:
    """Name the missing files (first five) before any expensive work."""
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise ValueError(f"{len(missing)} image file(s) missing: {missing[:5]}{more}")


def validate_samples(samples: Sequence[tuple[Any, ...]]) -> list[Sample]:
    """(path, label) or (path, label, source) items as `Sample`s; both classes required."""
    if samples is None or len(samples) == 0:
        raise ValueError("no training samples given")
    out: list[Sample] = []
    bad_labels: list[object] = []
    for item in samples:
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise ValueError(f"each sample must be (path, label[, source]), got {item!r}")
        path, label = item[0], item[1]
        if isinstance(label, bool) or label not in (0, 1):
            bad_labels.append(label)
            continue
        source = str(item[2]) if len(item) == 3 else ("fake" if label else "real")
        out.append((Path(path), int(label), source))
    if bad_labels:
        raise ValueError(f"labels must be 0 (real) or 1 (fake); got {bad_labels[:5]!r}")
    check_files_exist([p for p, _, _ in out])
    n_fake = sum(lbl for _, lbl, _ in out)
    n_real = len(out) - n_fake
    if n_real == 0 or n_fake == 0:
        raise ValueError(f"training needs both classes; got {n_real} real and {n_fake} fake images")
    return out


def water_fill(counts: dict[str, int], total: int) -> dict[str, int]:
    """How many to keep per source so they sum to `total`, keeping the smallest sources whole.

    The official `limit_real_data`: grow a per-source cap until the sum reaches the target.
    """
    if sum(counts.values()) <= total:
        return dict(counts)
    keep: dict[str, int] = {}
    remaining, order = total, sorted(counts, key=lambda s: (counts[s], s))
    for i, source in enumerate(order):
        cap = math.ceil(remaining / (len(order) - i))
        keep[source] = min(counts[source], cap)
        remaining -= keep[source]
    excess = sum(keep.values()) - total  # ceil may overshoot by a few: trim the largest
    for source in sorted(keep, key=lambda s: (-keep[s], s)):
        if excess <= 0:
            break
        keep[source] -= 1
        excess -= 1
    return keep


def balance_reals(samples: Sequence[Sample], seed: int) -> list[Sample]:
    """Subsample reals to the fake count (seeded, spread over real sources); fakes untouched."""
    fakes = [s for s in samples if s[1] == 1]
    reals = [s for s in samples if s[1] == 0]
    if len(reals) <= len(fakes):
        return list(samples)
    by_source: dict[str, list[Sample]] = {}
    for s in sorted(reals, key=lambda s: (s[2], str(s[0]))):
        by_source.setdefault(s[2], []).append(s)
    quota = water_fill({k: len(v) for k, v in by_source.items()}, len(fakes))
    rng = np.random.default_rng([seed, 0x5EA1])
    kept: list[Sample] = []
    for source in sorted(by_source):
        items = by_source[source]
        idx = sorted(rng.choice(len(items), size=quota[source], replace=False).tolist())
        kept.extend(items[i] for i in idx)
    kept_set = set(kept)
    return [s for s in samples if s[1] == 1 or s in kept_set]


def class_counts(samples: Sequence[Sample]) -> tuple[int, int]:
    """(n_real, n_fake)."""
    c = Counter(lbl for _, lbl, _ in samples)
    return c[0], c[1]


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The sample order of one epoch: a permutation that depends only on (n, seed, epoch)."""
    return np.random.default_rng([seed, epoch, 0x0D0E]).permutation(n).tolist()


def seed_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: python/numpy globals seeded from torch's per-worker seed."""
    import random

    import torch

    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


class DecodedImages:
    """The deterministic first part of reading an image, kept for the datasets of one study.

    A study trains and scores dozens of detectors on overlapping images: without this, every
    run decodes every file again (at 32 px, decoding and the eval transform cost as much as
    the forward pass). Eval items are kept as their final tensors; train items as the decoded
    image resized to the recipe's size, before any random op (which always builds a new
    image, so a kept one is never changed). Values are exactly what an uncached read gives,
    so results are bit-identical. Bounded by `max_bytes` (once full, further items are read
    as usual); pickled empty, so DataLoader workers never carry it.
    """

    def __init__(self, max_bytes: int = 1 << 30) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self.items: dict[tuple, Any] = {}
        self.bytes = self.hits = self.misses = 0

    def get(self, key: tuple, make: Any) -> Any:
        value = self.items.get(key)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        value = make()
        size = _nbytes(value)
        if self.bytes + size <= self.max_bytes:
            self.items[key] = value
            self.bytes += size
        return value

    def __getstate__(self) -> dict[str, Any]:
        return {"max_bytes": self.max_bytes, "items": {}, "bytes": 0, "hits": 0, "misses": 0}


def _nbytes(value: Any) -> int:
    if isinstance(value, Image.Image):
        return value.width * value.height * len(value.getbands())
    return int(value.element_size() * value.nelement())  # a torch tensor


def read_rgb(path: Path) -> Image.Image:
    """The file decoded as RGB; an unreadable file raises ValueError naming it."""
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from e


class ImageDataset:
    """Map-style dataset over image paths (DataLoader needs only __len__/__getitem__).

    Train mode draws augmentation from `sample_rng(seed, epoch, index)`; set `epoch` before
    each epoch. Plain attributes only: the dataset is pickled to spawned workers. With
    `decoded`, the deterministic part of each read is shared across datasets (a study's).
    """

    def __init__(
        self,
        paths: Sequence[Path],
        labels: Sequence[int] | None,
        image_size: int,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        *,
        train: bool,
        resize_size: int | None = None,
        count_range: tuple[int, int] = OP_COUNT_RANGE,
        seed: int = 0,
        decoded: DecodedImages | None = None,
    ) -> None:
        self.paths = list(paths)
        self.decoded = decoded
        self.labels = None if labels is None else list(labels)
        self.image_size, self.resize_size = image_size, resize_size
        self.mean, self.std = tuple(mean), tuple(std)
        self.train, self.count_range, self.seed = train, tuple(count_range), seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Any:
        path = self.paths[index]
        if self.train:
            resize_to = self.resize_size or resize_size_for(self.image_size)
            if self.decoded is None:
                image = read_rgb(path)
            else:  # the resize is train_transform's first, deterministic step
                image = self.decoded.get(("train", str(path), resize_to),
                                         lambda: resize_shorter(read_rgb(path), resize_to))
            x = train_transform(
                self.image_size,
                sample_rng(self.seed, self.epoch, index),
                mean=self.mean,
                std=self.std,
                resize_size=self.resize_size,
                count_range=self.count_range,  # type: ignore[arg-type]
            )(image)
        else:
            transform = eval_transform(
                self.image_size, mean=self.mean, std=self.std, resize_size=self.resize_size
            )
            if self.decoded is None:
                x = transform(read_rgb(path))
            else:
                key = ("eval", str(path), self.image_size, self.resize_size, self.mean,
                       self.std)  # fmt: skip
                x = self.decoded.get(key, lambda: transform(read_rgb(path)))
        if self.labels is None:
            return x
        return x, np.float32(self.labels[index])
