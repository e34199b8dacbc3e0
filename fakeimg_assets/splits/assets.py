"""`detector_dataset`: an immutable split holding lineage groups (and source photos) out.

Each fake's side is `model_side(group_key)` of its lineage group, each real's side is
`photo_side(photo_id)`: pure functions of the key, so a new model never moves another.
The split is named by its content (`split_id`) and stored under that name, never
overwritten; `split_versions` records which one is the latest. One step, two assets:
`detector_dataset` owns `detector_splits`, `split_versions` owns `split_versions`.
"""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from fakeimg_assets.detection.runs import GROUP
from fakeimg_assets.lib.family_groups import family_group_of
from fakeimg_assets.lib.metadata_table import table_entries
from fakeimg_assets.lib.paths import COLLECTION_PREFIX
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.splits.lineage import lineage_from_rows
from fakeimg_assets.splits.sides import DEFAULT_TEST_FRACTION
from fakeimg_assets.splits.splits import (
    check_split,
    fallback_photo_id,
    model_sides,
    photo_sides,
    split_id_of,
)
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import WarehouseResource

CODE_VERSION = "1"  # bump when a change alters what this asset writes (marks it stale)


class DatasetConfig(dg.Config):
    """A key is on the test side when its salted hash in [0, 1) is below `test_fraction`.

    `seed` re-draws every side at once (a different, equally stable split).
    """

    test_fraction: float = DEFAULT_TEST_FRACTION
    seed: int = 0


SPLIT_COLUMNS = [
    "split_id", "image_id", "split", "label", "source", "architecture",
    "model_created_at", "path", "group_key", "family_group", "collection",
]


def build_split(
    fakes: pl.DataFrame, reals: pl.DataFrame, lineage_rows: pl.DataFrame,
    test_fraction: float, seed: int,
) -> pl.DataFrame:
    """The split rows (without split_id): pure given the warehouse's rows.

    `fakes`: image_id, label, source, path, architecture, created_at and, when present,
    family_group and collection. `reals`: image_id, label, source, path, origin and, when
    present, photo_id and collection. `lineage_rows`: model_metadata.
    """
    sides = model_sides(lineage_from_rows(lineage_rows.iter_rows(named=True)), test_fraction, seed)
    missing = sorted(set(fakes["source"].to_list()) - set(sides))
    if missing:
        raise ValueError(f"sampled models without a model_metadata row: {missing}")
    fake_rows = fakes.with_columns(
        pl.col("source").replace_strict({m: k for m, (k, _) in sides.items()}).alias("group_key"),
        pl.col("source").replace_strict({m: s for m, (_, s) in sides.items()}).alias("split"),
        pl.col("created_at").alias("model_created_at"),
    )
    has_photo = "photo_id" in reals.columns
    photo_ids = [
        pid or fallback_photo_id(src, origin, iid)
        for pid, src, origin, iid in zip(
            reals["photo_id"] if has_photo else [None] * reals.height,
            reals["source"], reals["origin"], reals["image_id"], strict=True,
        )
    ]
    psides = photo_sides(photo_ids, test_fraction, seed)
    real_rows = reals.with_columns(
        pl.Series("group_key", photo_ids, dtype=pl.Utf8),
        pl.Series("split", [psides[p] for p in photo_ids], dtype=pl.Utf8),
        pl.lit(None, dtype=pl.Utf8).alias("architecture"),
        pl.lit(None, dtype=pl.Utf8).alias("family_group"),
    )
    if has_photo and "photo_split" in reals.columns:
        wrong = real_rows.filter(
            pl.col("photo_split").is_not_null() & (pl.col("photo_split") != pl.col("split"))
        )
        if wrong.height:
            raise ValueError(
                f"real_images put photo {wrong['group_key'][0]!r} on "
                f"{wrong['photo_split'][0]!r} but this split (test_fraction {test_fraction}, "
                f"seed {seed}) puts it on {wrong['split'][0]!r}: prompts could leak test "
                "photos; materialize real_images with the same test_fraction and seed"
            )
    cols = [c for c in SPLIT_COLUMNS if c != "split_id"]
    both = pl.concat([fake_rows, real_rows], how="diagonal_relaxed")
    both = both.with_columns(*(pl.lit(None, dtype=pl.Utf8).alias(c)
                               for c in ("family_group", "collection") if c not in both.columns))
    return both.select(cols)


def excluded_collections(warehouse: WarehouseResource) -> dict[str, str]:
    """Collections whose images never enter a split -> why: role 'eval' (scored as outside
    sets only) or a failed shortcut audit of their own in the latest audit."""
    out = {}
    roles = warehouse.query("SELECT DISTINCT collection, role FROM collections")
    for r in roles.iter_rows(named=True):
        if r["role"] == "eval":
            out[r["collection"]] = "role 'eval': an outside evaluation set, never trained on"
    audits = warehouse.query(
        "SELECT * FROM shortcut_audit WHERE audit_id = (SELECT audit_id FROM shortcut_audit "
        "ORDER BY created_at DESC LIMIT 1) AND scope LIKE 'collection:%' AND NOT passed"
    )
    for r in audits.iter_rows(named=True):
        name = r["scope"].split(":", 1)[1]
        out.setdefault(name, f"failed its shortcut audit: metadata-only AUC {r['auc']:.3f} > "
                             f"{r['threshold']} ({r['top_features']})")
    return out


def _require_both_sides(rows: pl.DataFrame, test_fraction: float, seed: int) -> None:
    for label, what in (("fake", "lineage group"), ("real", "source photo")):
        part = rows.filter(pl.col("label") == label)
        for side in ("train", "test"):
            if part.filter(pl.col("split") == side).height == 0:
                keys = sorted(set(part["group_key"].to_list()))
                raise ValueError(
                    f"no {label} image on the {side} side: every {what} ({len(keys)}: "
                    f"{keys[:8]}) hashes to the other side with test_fraction {test_fraction}, "
                    f"seed {seed}; change DatasetConfig.test_fraction or seed, or add models"
                )


def _spec(key: str, table: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key, group_name=GROUP,
        deps=["image_quality_stats", "model_metadata", "real_images", "collection_reals",
              "shortcut_audit"],
        kinds={"duckdb"}, code_version=CODE_VERSION, metadata=table_metadata(table),
        description=description,
    )


@dg.multi_asset(
    name="detector_dataset",
    specs=[
        _spec("detector_dataset", "detector_splits",
              "Immutable train/test split (split_id) holding lineage groups and source photos "
              "out; the latest is in split_versions."),
        _spec("split_versions", "split_versions",
              "One row per split version cut, the latest last (written by detector_dataset)."),
    ],
)
def detector_dataset(
    context: dg.AssetExecutionContext, config: DatasetConfig, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult]:
    left_out = excluded_collections(warehouse)
    fakes = warehouse.query(
        """
        SELECT i.image_id, i.label, i.source, i.path, m.architecture, m.created_at,
               m.family_group, m.pipeline_class, m.collection
        FROM images i
        JOIN model_stats s ON s.model_id = i.source AND NOT s.quarantined
        JOIN model_metadata m ON m.model_id = i.source
        WHERE i.label = 'fake'
        """
    )
    fakes = fakes.with_columns(pl.Series("family_group", [
        family_group_of(r) for r in fakes.select("family_group", "pipeline_class").iter_rows(
            named=True)], dtype=pl.Utf8)).drop("pipeline_class")
    fakes = fakes.filter(pl.col("collection").is_null()
                         | ~pl.col("collection").is_in(list(left_out)))
    reals = warehouse.query(  # the columns build_split reads, never every column of images
        "SELECT image_id, label, source, path, origin, photo_id, photo_split FROM images "
        "WHERE label = 'real'").with_columns(
        pl.when(pl.col("source").str.starts_with(COLLECTION_PREFIX))
        .then(pl.col("source").str.strip_prefix(COLLECTION_PREFIX))
        .otherwise(pl.lit(None, dtype=pl.Utf8)).alias("collection")
    )
    reals = reals.filter(pl.col("collection").is_null()
                         | ~pl.col("collection").is_in(list(left_out)))
    if reals.height == 0:
        raise dg.Failure("no real images: materialize real_images first")
    if fakes["source"].n_unique() < 2:
        raise dg.Failure(
            f"need at least 2 sampled, non-quarantined models to hold generators out; have "
            f"{fakes['source'].n_unique()}. Sample more hub_models partitions first."
        )
    lineage = warehouse.read("model_metadata")
    try:
        rows = build_split(fakes, reals, lineage, config.test_fraction, config.seed)
        _require_both_sides(rows, config.test_fraction, config.seed)
        check_split(rows.iter_rows(named=True), config.test_fraction, config.seed)
        split_id = split_id_of(zip(rows["image_id"], rows["split"], strict=True))
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    rows = rows.with_columns(pl.lit(split_id).alias("split_id")).select(SPLIT_COLUMNS)
    store = warehouse.store()
    if not store.has_key("detector_splits", split_id):  # immutable
        warehouse.write("detector_splits", split_id, rows.sort("image_id"))
    fake_rows = rows.filter(pl.col("label") == "fake")
    test_models = sorted(set(fake_rows.filter(pl.col("split") == "test")["source"].to_list()))
    train_models = sorted(set(fake_rows.filter(pl.col("split") == "train")["source"].to_list()))
    warehouse.write(
        "split_versions",
        split_id,
        [{
            "split_id": split_id,
            "created_at": utcnow(),
            "test_fraction": config.test_fraction,
            "seed": config.seed,
            "n_images": rows.height,
            "n_train_models": len(train_models),
            "n_test_models": len(test_models),
            "n_groups": fake_rows["group_key"].n_unique(),
            "dagster_run_id": context.run.run_id,
        }],
    )
    counts = rows.group_by("split", "label").len().sort("split", "label")
    groups = (
        fake_rows.group_by("group_key", "split")
        .agg(pl.col("source").n_unique().alias("models"))
        .sort("split", "group_key")
    )
    yield dg.MaterializeResult(
        asset_key="detector_dataset",
        metadata={
            "split_id": split_id,
            **row_count(rows.height),  # this split version's rows
            "train_models": len(train_models),
            "test_models": dg.MetadataValue.json(test_models),
            "test_fraction": config.test_fraction,
            "excluded_collections": dg.MetadataValue.json(left_out),
            **table_entries("counts", counts),
            # one row per lineage group and side: the first 100 (by side, then group)
            **table_entries("lineage_groups", groups, max_rows=100),
        }
    )
    yield dg.MaterializeResult(  # a small table: its rows are every version cut so far
        asset_key="split_versions",
        metadata={"split_id": split_id, **row_count(warehouse.read("split_versions").height)},
    )
