"""The paired verdict of the cross-dataset comparison: A minus B on the same balanced sets."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from fakeimg_assets.studies.cross_dataset_verdict import paired_difference


def _sets(n: int = 40, gens: tuple[str, ...] = ("g1", "g2")) -> dict[str, pl.DataFrame]:
    out = {}
    for g in gens:
        rows = [{"path": f"{g}/f{i}", "label": "fake", "group_key": g} for i in range(n)]
        rows += [{"path": f"{g}/r{i}", "label": "real", "group_key": f"photo{i % 8}"}
                 for i in range(n)]
        out[g] = pl.DataFrame(rows)
    return out


def _scores(sets, separation: float, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {p: float(rng.normal(separation if lbl == "fake" else 0.0, 1.0))
            for df in sets.values() for p, lbl in zip(df["path"], df["label"], strict=True)}


def test_a_better_detector_wins_with_an_interval_above_zero() -> None:
    sets = _sets()
    out = paired_difference(sets, _scores(sets, 3.0, 1), _scores(sets, 0.0, 2), n_boot=500)
    assert out["estimate"] > 0.3 and out["ci_low"] > 0 and out["holds"] is True
    assert set(out["generators"]) == {"g1", "g2"}


def test_the_same_detector_gives_exactly_zero_and_swapping_flips_the_sign() -> None:
    sets = _sets()
    a, b = _scores(sets, 1.0, 1), _scores(sets, 0.5, 2)
    same = paired_difference(sets, a, a, n_boot=200)
    assert same["estimate"] == 0 and same["ci_low"] == same["ci_high"] == 0
    assert not same["holds"]
    ab, ba = paired_difference(sets, a, b, n_boot=200), paired_difference(sets, b, a, n_boot=200)
    assert ab["estimate"] == pytest.approx(-ba["estimate"])


def test_no_set_is_refused() -> None:
    with pytest.raises(ValueError, match="no evaluation set"):
        paired_difference({}, {}, {})
