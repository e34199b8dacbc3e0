"""How a study picks its training images: seeded, reproducible heads of the split's rows.

A study fixes its image counts before it picks images: `seeded_head` keeps `n` rows in the
order of a seeded hash of their image ids (the same rows on every machine, nested as `n`
grows), and `fake_sample` takes each generator's share of a fake budget that way.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from fakeimg_assets.lib.paths import derive_seed


def seeded_head(df: pl.DataFrame, n: int, *salt: object) -> pl.DataFrame:
    """`n` rows chosen by a seeded hash of image_id (all rows when fewer); n < 0 is refused."""
    if n < 0:
        raise ValueError(f"cannot keep {n} rows: the count must be >= 0")
    keys = [derive_seed(*salt, i) for i in df["image_id"]]
    return df.with_columns(pl.Series("_k", keys, pl.Int64)).sort("_k", "image_id").head(n).drop("_k")


def fake_sample(fakes: pl.DataFrame, alloc: Mapping[str, int], *salt: object) -> pl.DataFrame:
    """Each generator's `alloc[source]` fakes (seeded per generator), concatenated.

    A generator holding fewer fakes than its share is refused: the study's fixed count
    would silently shrink."""
    parts = []
    for source, count in sorted(alloc.items()):
        mine = fakes.filter(pl.col("source") == source)
        if mine.height < count:
            raise ValueError(f"generator {source!r} holds {mine.height} fakes < its share {count}")
        parts.append(seeded_head(mine, count, *salt, source))
    return pl.concat(parts) if parts else fakes.clear()
