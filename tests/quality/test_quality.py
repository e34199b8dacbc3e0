"""Quality aggregates pinned to exact values, so an off-by-one in a fraction cannot pass."""

from __future__ import annotations

import numpy as np
import pytest

from fakeimg_assets.quality.stats import (
    QuarantinePolicy,
    duplicate_fraction,
    image_measures,
    model_aggregate,
)


def _images(n_black: int, n_noise: int) -> list[dict]:
    rng = np.random.default_rng(0)
    black = [image_measures(np.zeros((16, 16, 3), np.uint8)) for _ in range(n_black)]
    noise = [
        image_measures(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)) for _ in range(n_noise)
    ]
    return black + noise


@pytest.mark.parametrize(
    ("n_black", "n_noise", "fraction", "quarantined"),
    [(1, 3, 0.25, False), (2, 2, 0.5, False), (3, 1, 0.75, True), (0, 4, 0.0, False)],
)
def test_black_fraction_is_exact_and_its_threshold_is_strict(
    n_black: int, n_noise: int, fraction: float, quarantined: bool
) -> None:
    agg = model_aggregate(_images(n_black, n_noise), QuarantinePolicy(min_images=1))
    assert agg["n_images"] == n_black + n_noise
    assert agg["black_fraction"] == pytest.approx(fraction, abs=1e-12)
    assert agg["constant_fraction"] == pytest.approx(fraction, abs=1e-12)
    assert agg["quarantined"] is quarantined
    assert ("black" in (agg["quarantine_reason"] or "")) is quarantined


def test_image_measures_black_constant_and_noise() -> None:
    black = np.zeros((32, 32, 3), np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    b, n = image_measures(black), image_measures(noise)
    assert b["is_black"] and b["is_constant"] and b["entropy"] == 0.0
    assert not n["is_black"] and not n["is_constant"] and n["entropy"] > 6
    assert len(b["dhash"]) == 16


def test_duplicate_fraction() -> None:
    assert duplicate_fraction(["a", "a", "b", "c"]) == 0.5
    assert duplicate_fraction(["a", "b"]) == 0.0
    assert duplicate_fraction([]) == 0.0


def test_model_aggregate_quarantines_black_models() -> None:
    black = [image_measures(np.zeros((16, 16, 3), np.uint8)) for _ in range(4)]
    agg = model_aggregate(black)
    assert agg["quarantined"] and "black" in agg["quarantine_reason"]
    assert agg["duplicate_fraction"] == 1.0
    rng = np.random.default_rng(1)
    good = [image_measures(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)) for _ in range(4)]
    assert not model_aggregate(good)["quarantined"]
    corrupt = [{**g, "sha256_ok": False} for g in good]
    assert "sha256" in model_aggregate(corrupt)["quarantine_reason"]
