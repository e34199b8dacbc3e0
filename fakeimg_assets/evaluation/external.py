"""Evaluation sets from outside: collections added with role 'eval', scored, never trained on,
and the test side of role-'both' collections, reported on their own as well.

Each set is a frame with the split's columns (so the same `evaluation_rows` scores it): its
generators' fakes (quarantined ones left out) and the collection's own real images, or,
for a set that brought none, the platform's test-side reals. They come at their own sizes,
so they are scored with `match_sizes=False` (`EXTERNAL_MATCH_SIZES`).
"""

from __future__ import annotations

import polars as pl

from resources import WarehouseResource

EXTERNAL_MATCH_SIZES = False
COLUMNS = ("image_id", "label", "source", "architecture", "family_group", "collection", "path",
           "group_key", "width", "height", "model_created_at")


def collections_with_role(warehouse: WarehouseResource, roles: tuple[str, ...]) -> list[str]:
    """Names of the collections whose role is one of `roles`, sorted."""
    rows = warehouse.query("SELECT DISTINCT collection, role FROM collections")
    return sorted({r["collection"] for r in rows.iter_rows(named=True) if r["role"] in roles})


def collection_frame(warehouse: WarehouseResource, name: str) -> pl.DataFrame:
    """Fakes of a collection's non-quarantined generators and its own reals, split columns."""
    fakes = warehouse.query(
        """
        SELECT i.image_id, i.label, i.source, m.architecture,
               coalesce(m.family_group, 'other') AS family_group, m.collection, i.path,
               i.source AS group_key, i.width, i.height, m.created_at AS model_created_at
        FROM images i
        JOIN model_metadata m ON m.model_id = i.source
        LEFT JOIN model_stats s ON s.model_id = i.source
        WHERE i.label = 'fake' AND m.collection = ? AND NOT coalesce(s.quarantined, false)
        ORDER BY i.image_id
        """,
        params=[name],
    )
    reals = warehouse.query(
        """
        SELECT image_id, label, source, NULL AS architecture, NULL AS family_group,
               ? AS collection, path, coalesce(photo_id, image_id) AS group_key, width, height,
               NULL AS model_created_at
        FROM images WHERE label = 'real' AND source = ?
        ORDER BY image_id
        """,
        params=[name, f"collection--{name}"],
    )
    return pl.concat([_typed(fakes), _typed(reals)], how="vertical_relaxed")


def external_sets(warehouse: WarehouseResource, fallback_reals: pl.DataFrame | None = None
                  ) -> dict[str, pl.DataFrame]:  # fmt: skip
    """`{collection name: frame}` of every role-'eval' collection with fakes; a set without
    reals of its own gets `fallback_reals` (the platform's test-side reals), if given."""
    out = {}
    for name in collections_with_role(warehouse, ("eval",)):
        frame = collection_frame(warehouse, name)
        if frame.filter(pl.col("label") == "fake").height == 0:
            continue
        if frame.filter(pl.col("label") == "real").height == 0 and fallback_reals is not None:
            frame = pl.concat([frame, _typed(fallback_reals.select(
                [c for c in COLUMNS if c in fallback_reals.columns]))], how="diagonal_relaxed")
        out[name] = frame
    return out


def _typed(df: pl.DataFrame) -> pl.DataFrame:
    """The frame with every column of `COLUMNS` (nulls where absent), text as Utf8."""
    exprs = []
    for c in COLUMNS:
        if c not in df.columns:
            exprs.append(pl.lit(None).alias(c))
        elif c in ("width", "height"):
            exprs.append(pl.col(c).cast(pl.Int64))
        elif c == "model_created_at":
            exprs.append(pl.col(c))
        else:
            exprs.append(pl.col(c).cast(pl.Utf8))
    return df.select(exprs)


def test_side_sets(test: pl.DataFrame, names: list[str], platform_reals: pl.DataFrame
                   ) -> dict[str, pl.DataFrame]:  # fmt: skip
    """`{collection: its test-side fakes + its own test reals (else the platform's)}` of
    role-'both' collections, from the split's test rows; a collection with no held-out
    generator gets no set."""
    out = {}
    for name in names:
        own = test.filter(pl.col("collection") == name)
        if own.filter(pl.col("label") == "fake").height == 0:
            continue
        if own.filter(pl.col("label") == "real").height == 0:
            own = pl.concat([own, platform_reals], how="diagonal_relaxed")
        out[name] = own
    return out
