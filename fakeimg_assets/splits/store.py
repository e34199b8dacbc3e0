"""Reading split versions back: the latest one, or exactly the one a run trained on.

`detector_splits` keeps every split version (one Parquet file per `split_id`, never
overwritten); `split_versions` says when each was last produced, so "latest" is the one
`detector_dataset` materialized most recently.
"""

from __future__ import annotations

import polars as pl

from resources import WarehouseResource


def latest_split_id(warehouse: WarehouseResource) -> str | None:
    """The split `detector_dataset` produced last, or None before any."""
    rows = warehouse.query(
        "SELECT split_id FROM split_versions ORDER BY created_at DESC, split_id LIMIT 1"
    )
    return rows["split_id"][0] if rows.height else None


def read_split(warehouse: WarehouseResource, split_id: str | None = None) -> tuple[str, pl.DataFrame]:
    """`(split_id, rows)` of one split version (the latest when `split_id` is None), each
    row with its image's current `path`, `width` and `height` from `images` (one join in
    DuckDB: only the split's rows are read into memory, never the whole relation).

    Raises LookupError naming the missing split, so callers can turn it into a dg.Failure.
    """
    if split_id is None:
        split_id = latest_split_id(warehouse)
        if split_id is None:
            raise LookupError("no split yet: materialize detector_dataset first")
    rows = warehouse.query(
        "SELECT s.* EXCLUDE (path), i.path AS path, i.width, i.height, "
        "i.image_id IS NULL AS _gone "
        "FROM detector_splits s LEFT JOIN images i USING (image_id) "
        "WHERE s.split_id = ? ORDER BY s.image_id",
        params=[split_id],
    )
    if rows.height == 0:
        raise LookupError(f"split {split_id!r} has no rows in detector_splits")
    gone = rows.filter(pl.col("_gone"))["image_id"].to_list()
    if gone:
        raise LookupError(
            f"split {split_id!r} names {len(gone)} image(s) no longer in `images` (e.g. "
            f"{', '.join(gone[:3])}); materialize detector_dataset to cut a new split"
        )
    # paths come from `images`, not the split: a re-sampled partition publishes its files
    # under a new version folder, and the split (immutable) must follow the rows it names
    return split_id, rows.drop("_gone")
