"""Evaluation protocols beyond the main held-out split (pure planning + a small runner).

- `held_out_family`: leave one architecture out; train on the other families, test on it.
- `external`: the main detector on every role-'eval' image collection (`external.py`).
- `time_ordered`: AI-GenBench-style expanding windows on the Hub's `created_at` (upload
  time, not release time): train on models created up to t, test on (t, t + window].

Leave-one-family-out keeps lineage groups whole: a model related to a test model (shared
weights, same base model) never trains. The time-ordered protocol by default does what a
deployed detector faces: it has seen everything uploaded up to t, relatives included
(`exclude_relatives=True` makes it strict). Reals always keep the split's photo sides.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from fakeimg_assets.lib.paths import derive_seed

PROTOCOLS = ("held_out_models", "held_out_family", "time_ordered", "external")


@dataclass(frozen=True)
class ProtocolRun:
    """One detector to train: its name, training models and test models."""

    name: str  # e.g. 'family-sd3', 'window-20240101'
    train_models: tuple[str, ...]
    test_models: tuple[str, ...]


def check_protocols(names: list[str]) -> None:
    unknown = [n for n in names if n not in PROTOCOLS]
    if unknown:
        raise ValueError(f"unknown protocol(s) {unknown}; known: {', '.join(PROTOCOLS)}")


def _models(split: pl.DataFrame) -> pl.DataFrame:
    return (
        split.filter(pl.col("label") == "fake")
        .select("source", "architecture", "group_key", "model_created_at")
        .unique("source")
        .sort("source")
    )


def _without_relatives(models: pl.DataFrame, train: set[str], test: set[str]) -> tuple[str, ...]:
    test_groups = set(models.filter(pl.col("source").is_in(list(test)))["group_key"].to_list())
    kept = models.filter(
        pl.col("source").is_in(list(train)) & ~pl.col("group_key").is_in(list(test_groups))
    )
    return tuple(sorted(kept["source"].to_list()))


def family_runs(split: pl.DataFrame, max_runs: int = 0) -> list[ProtocolRun]:
    """One run per architecture: train on the others (minus relatives), test on it.

    `max_runs` > 0 keeps the architectures with the most models (ties by name): each run
    trains a detector, and a Hub with dozens of architectures would train dozens."""
    if max_runs < 0:
        raise ValueError(f"max_runs must be >= 0 (0 = every architecture), got {max_runs}")
    models = _models(split)
    counts: dict[str, int] = {}
    for a in models["architecture"].to_list():
        if a:
            counts[a] = counts.get(a, 0) + 1
    if len(counts) < 2:
        return []
    archs = sorted(counts, key=lambda a: (-counts[a], a))
    archs = sorted(archs[:max_runs] if max_runs else archs)
    runs = []
    for arch in archs:
        test = set(models.filter(pl.col("architecture") == arch)["source"].to_list())
        train = _without_relatives(models, set(models["source"].to_list()) - test, test)
        if train:
            runs.append(ProtocolRun(f"family-{arch}", train, tuple(sorted(test))))
    return runs


def time_windows(
    split: pl.DataFrame,
    window_days: int = 365,
    min_train_models: int = 3,
    exclude_relatives: bool = False,
) -> list[ProtocolRun]:
    """Expanding windows: t starts at the `min_train_models`-th upload, then steps by the
    window; each run trains on models created <= t and tests on those in (t, t+window]."""
    if window_days < 1 or min_train_models < 1:
        raise ValueError(
            f"window_days and min_train_models must be >= 1, got {window_days}, {min_train_models}"
        )
    models = _models(split).filter(pl.col("model_created_at").is_not_null())
    models = models.sort("model_created_at", "source")
    if models.height <= min_train_models:
        return []
    times = models["model_created_at"].to_list()
    t = times[min_train_models - 1]
    last = times[-1]
    step = dt.timedelta(days=window_days)
    runs = []
    while t < last:
        end = t + step
        train = {m for m, c in zip(models["source"], times, strict=True) if c <= t}
        test = {m for m, c in zip(models["source"], times, strict=True) if t < c <= end}
        kept = _without_relatives(models, train, test) if exclude_relatives else tuple(sorted(train))
        if test and kept:
            runs.append(ProtocolRun(f"window-{t:%Y%m%d}", kept, tuple(sorted(test))))
        t = end
    return runs


def protocol_frames(
    split: pl.DataFrame, run: ProtocolRun, max_fakes_per_model: int = 0, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(train rows, test rows) of one protocol run: its models' fakes plus the split's
    train-side / test-side reals. `max_fakes_per_model` > 0 caps each training model's
    fakes (seeded choice) to keep the extra detectors cheap; test rows are never cut."""
    fake = pl.col("label") == "fake"
    real = pl.col("label") == "real"
    train = split.filter(
        (fake & pl.col("source").is_in(list(run.train_models)))
        | (real & (pl.col("split") == "train"))
    )
    test = split.filter(
        (fake & pl.col("source").is_in(list(run.test_models)))
        | (real & (pl.col("split") == "test"))
    )
    if max_fakes_per_model > 0:
        keys = [derive_seed("protocol-fakes", seed, i) for i in train["image_id"]]
        train = (
            train.with_columns(pl.Series("_k", keys))
            .sort("_k", "image_id")
            .filter(~fake | (pl.int_range(pl.len()).over("source") < max_fakes_per_model))
            .drop("_k")
            .sort("image_id")
        )
    return train, test
