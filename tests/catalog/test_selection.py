"""Which crawled models are selected, and how the catalogue keeps first-seen times."""

from __future__ import annotations

import datetime as dt

from fakeimg_assets.catalog.selection import (
    SelectionPolicy,
    merge_catalog,
    rejection_reason,
    select_models,
)
from fakeimg_assets.lib.times import utcnow


def test_selection_policy() -> None:
    rows = [
        {"model_id": "a/new", "gated": "false", "library_name": "diffusers"},
        {"model_id": "a/gated", "gated": "auto"},
        {"model_id": "a/private", "private": True},
        {"model_id": "a/known"},
        {"model_id": "a/new", "gated": "false"},
        {"model_id": "a/other", "library_name": "transformers"},
    ]
    assert select_models(rows, {"a/known"}, SelectionPolicy()) == ["a/new"]
    assert rejection_reason(rows[1], SelectionPolicy()) == "gated (auto)"
    assert select_models(rows, set(), SelectionPolicy(allow_gated=True), limit=2) == [
        "a/new",
        "a/gated",
    ]


def test_merge_catalog_keeps_first_seen() -> None:
    t0, t1 = utcnow(), utcnow() + dt.timedelta(days=1)
    first = merge_catalog([], [{"model_id": "a/b", "likes": 1}], t0)
    second = merge_catalog(first, [{"model_id": "a/b", "likes": 5}, {"model_id": "c/d"}], t1)
    by_id = {r["model_id"]: r for r in second}
    assert by_id["a/b"]["first_seen_at"] == t0 and by_id["a/b"]["last_seen_at"] == t1
    assert by_id["a/b"]["likes"] == 5 and by_id["c/d"]["first_seen_at"] == t1
