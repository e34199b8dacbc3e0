"""`detector_evaluation`: AP, accuracy and AUC on held-out generators."""

import dagster as dg
import polars as pl

from fakeimg_assets.detection.common import (
    GROUP,
    markdown,
    num,
)
from fakeimg_assets.detection.splits import time_bucket
from fakeimg_assets.warehouse.store import utcnow
from resources import ComputeResource, ImageStoreResource, WarehouseResource


def evaluation_rows(run_id: str, frame: pl.DataFrame) -> list[dict]:
    """Metric rows of one run: test overall, per model, architecture and time bucket.

    `frame` holds split, label, source, architecture, model_created_at and score. Per-group
    rows pair that group's fakes with every real of the same split.
    """
    from fakeimg_assets.detection.metrics import binary_metrics

    now = utcnow()
    frame = frame.with_columns(
        pl.col("model_created_at")
        .map_elements(time_bucket, return_dtype=pl.Utf8)
        .alias("time_bucket")
    )
    rows = []

    def add(split: str, kind: str, value: str, part: pl.DataFrame) -> None:
        labels = [1 if lbl == "fake" else 0 for lbl in part["label"]]
        m = binary_metrics(labels, part["score"].to_list())
        rows.append(
            {
                "run_id": run_id,
                "split": split,
                "group_kind": kind,
                "group_value": value,
                "n_real": m["n_real"],
                "n_fake": m["n_fake"],
                "ap": m["ap"],
                "accuracy": m["accuracy"],
                "auc": m["auc"],
                "evaluated_at": now,
            }
        )

    for split in sorted(set(frame["split"].to_list())):
        part = frame.filter(pl.col("split") == split)
        add(split, "overall", "all", part)
        if split != "test":
            continue
        real = part.filter(pl.col("label") == "real")
        fake = part.filter(pl.col("label") == "fake")
        for kind in ("source", "architecture", "time_bucket"):
            for value in sorted(v for v in set(fake[kind].to_list()) if v is not None):
                group = pl.concat([real, fake.filter(pl.col(kind) == value)])
                add(split, "model" if kind == "source" else kind, str(value), group)
    return rows


@dg.asset(
    group_name=GROUP,
    deps=["detector"],
    kinds={"pytorch", "duckdb"},
    description="AP, accuracy and AUC of the latest detector on held-out generators.",
)
def detector_evaluation(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    from fakeimg_assets.detection.train import predict

    runs = warehouse.query(
        "SELECT run_id, checkpoint_path FROM detector_runs WHERE purpose = 'main' "
        "ORDER BY created_at DESC LIMIT 1"
    )
    if runs.height == 0:
        raise dg.Failure("no trained detector: materialize detector first")
    run_id, ckpt = runs.row(0)
    splits = warehouse.query("SELECT * FROM detector_splits ORDER BY image_id")
    compute.apply_threads()
    scores = predict(
        ckpt,
        [str(image_store.absolute(p)) for p in splits["path"]],
        device=compute.resolve_device(),
    )
    frame = splits.with_columns(pl.Series("score", [float(s) for s in scores]))
    rows = evaluation_rows(run_id, frame)
    warehouse.write("eval_results", run_id, rows)
    overall = next(r for r in rows if r["split"] == "test" and r["group_kind"] == "overall")
    per_model = [r for r in rows if r["group_kind"] == "model"]
    return dg.MaterializeResult(
        metadata={
            "run_id": run_id,
            "test_ap": num(overall["ap"]),
            "test_accuracy": num(overall["accuracy"]),
            "test_auc": num(overall["auc"]),
            "held_out_models": len(per_model),
            "per_model": dg.MetadataValue.md(
                markdown(
                    pl.DataFrame(per_model).select("group_value", "n_fake", "ap", "accuracy")
                )
                if per_model
                else "_none_"
            ),
        }
    )
