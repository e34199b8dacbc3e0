"""Quality aggregates pinned to exact values, so an off-by-one in a fraction cannot pass."""

from __future__ import annotations

import numpy as np
import pytest

from fakeimg_assets.quality.stats import QuarantinePolicy, image_measures, model_aggregate


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
