"""`image_quality_stats`: per-image quality measures of one model's sampled images, a sha256
re-check, the model's aggregate and its quarantine (partitioned by Hub model id).

One step, two tables, two assets: `image_quality_stats` owns `fake_image_stats` (per image)
and `model_stats` owns the per-model aggregate, so each table has one owning asset with its
own row counts. The step always materializes both (the multi-asset cannot be subset).
"""

from collections.abc import Iterator

import dagster as dg
import numpy as np

from fakeimg_assets.automation import per_model_condition
from fakeimg_assets.lib.paths import model_slug, sha256_file, validate_model_id
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.models.assets import CODE_VERSION, GROUP, sampled_images
from fakeimg_assets.models.checks import NOT_DEGENERATE, not_degenerate_result
from fakeimg_assets.models.failures import record_failures
from fakeimg_assets.partitions import hub_models_partitions
from fakeimg_assets.quality.stats import image_measures, model_aggregate
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import ImageStoreResource, WarehouseResource

STATS_TABLE = "fake_image_stats"
MODEL_STATS = dg.AssetKey("model_stats")


def _spec(key: str, table: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key, group_name=GROUP, automation_condition=per_model_condition(), deps=[sampled_images],
        kinds={"numpy", "duckdb"}, code_version=CODE_VERSION, metadata=table_metadata(table),
        description=description,
    )


@dg.multi_asset(
    name="image_quality_stats",
    partitions_def=hub_models_partitions,
    specs=[
        _spec("image_quality_stats", STATS_TABLE,
              "Per-image quality measures and sha256 re-check of one model's sampled images."),
        _spec("model_stats", "model_stats",
              "Per-model quality aggregates and quarantine (written by image_quality_stats)."),
    ],
    check_specs=[dg.AssetCheckSpec(NOT_DEGENERATE, asset="image_quality_stats")],
)
def image_quality_stats(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    model_id = validate_model_id(context.partition_key)
    slug = model_slug(model_id)
    with record_failures(context, warehouse, model_id, "image_quality_stats") as stage:
        stage.name = "read"
        images = warehouse.read_key("fake_images", f"fake--{slug}")
        if images.height == 0:
            raise ValueError(f"no sampled images recorded for {model_id}; run sampled_images first")
        stage.name = "measure"
        per_image = measure_images(images.to_dicts(), image_store)
        agg = model_aggregate(per_image)
        stage.name = "write"
        warehouse.write(STATS_TABLE, f"fake--{slug}", per_image)
        warehouse.write(
            "model_stats", slug, [{"model_id": model_id, **agg, "computed_at": utcnow()}]
        )
    summary = {
        "n_images": agg["n_images"],
        "black_fraction": float(agg["black_fraction"]),
        "duplicate_fraction": float(agg["duplicate_fraction"]),
        "mean_entropy": float(agg["mean_entropy"] or 0.0),
        "quarantined": bool(agg["quarantined"]),
        "quarantine_reason": str(agg["quarantine_reason"] or ""),
    }
    yield dg.MaterializeResult(
        asset_key="image_quality_stats",
        metadata={**summary, **row_count(len(per_image), partitioned=True)},
        check_results=[not_degenerate_result(agg)],
    )
    yield dg.MaterializeResult(
        asset_key=MODEL_STATS, metadata={**summary, **row_count(1, partitioned=True)}
    )


def measure_images(rows: list[dict], image_store: ImageStoreResource) -> list[dict]:
    """Quality measures of each image row's file, re-checking its sha256 first."""
    from PIL import Image

    out = []
    for row in rows:
        path = image_store.absolute(row["path"])
        base = {"image_id": row["image_id"], "source": row["source"], "label": row["label"]}
        if not path.exists():
            out.append({**base, "sha256_ok": False, "is_black": False, "is_constant": False,
                        "dhash": f"missing:{row['image_id']}"})
            continue
        ok = sha256_file(path) == row["sha256"]
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
        out.append({**base, **image_measures(rgb), "sha256_ok": ok})
    return out
