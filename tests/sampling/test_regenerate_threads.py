"""The thread count a row records is data: regenerate refuses one torch must not be given."""

from __future__ import annotations

import pytest

from fakeimg_assets.sampling.regenerate import recorded_torch_threads


def test_a_recorded_count_is_returned_and_a_missing_one_is_none() -> None:
    assert recorded_torch_threads({"image_id": "fake:a/b:00001", "torch_threads": 2}) == 2
    assert recorded_torch_threads({"image_id": "fake:a/b:00001", "torch_threads": None}) is None
    assert recorded_torch_threads({"image_id": "fake:a/b:00001"}) is None  # older rows


@pytest.mark.parametrize("value", [0, -1, 4097, 10**9, True, 2.0, "2"])
def test_a_hostile_count_is_refused_by_name(value: object) -> None:
    with pytest.raises(ValueError, match=r"fake:a/b:00001.*torch_threads"):
        recorded_torch_threads({"image_id": "fake:a/b:00001", "torch_threads": value})
