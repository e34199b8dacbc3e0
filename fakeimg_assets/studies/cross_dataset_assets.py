"""`cross_dataset`: a detector per training source at equal image counts, scored everywhere.

The plan (sources, the equal image count, training frames, held-out parts) is
`cross_dataset.py`'s pure functions; this asset trains one detector per source on the
latest split, scores each on every source's held-out part and on every outside evaluation
set (`evaluation/external.py`) with the evaluation's balanced rows, writes them to
`cross_dataset_results` (`eval_results` with protocol 'cross_dataset'), and draws the
matrix. Its detectors' runs go to `cross_dataset_detectors`, the step's second asset.
"""

import shutil
import time
from collections.abc import Iterator

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field, field_validator

from fakeimg_assets.detection.data import DecodedImages
from fakeimg_assets.detection.runs import GROUP, run_row, samples_of, train_on
from fakeimg_assets.detection.train import predict
from fakeimg_assets.evaluation.bootstrap import DEFAULT_REPLICATES
from fakeimg_assets.evaluation.external import (
    EXTERNAL_MATCH_SIZES,
    collections_with_role,
    external_sets,
)
from fakeimg_assets.evaluation.rows import balanced_sets, evaluation_rows
from fakeimg_assets.lib.arg_checks import check_backbone, field_check
from fakeimg_assets.lib.metadata_table import table_entries
from fakeimg_assets.lib.plot_files import plot_metadata
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.splits.store import read_split
from fakeimg_assets.studies.cross_dataset import (
    HUB,
    axes,
    check_sources,
    matrix,
    matrix_rows,
    plan_cross_dataset,
)
from fakeimg_assets.studies.cross_dataset_plot import matrix_png
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import ComputeResource, HubResource, ImageStoreResource, WarehouseResource

CODE_VERSION = "1"  # bump when a change alters what this asset writes (marks it stale)
RUNS_TABLE = "cross_dataset_detectors"
PROTOCOL = "cross_dataset"


class CrossDatasetConfig(dg.Config):
    """`fake_images` caps the equal per-detector fake count (0: the fewest any source has;
    each detector also gets as many reals)."""

    fake_images: int = 0
    backbone: str = Field(default="tiny-resnet", description="A registered backbone "
                          "(fakeimg_assets/detection/backbones.py).")
    epochs: int | None = Field(default=2, ge=1, description="Epochs >= 1 per run; empty: "
                               "the recipe's.")
    backbone_known = field_validator("backbone")(field_check(check_backbone))
    image_size: int | None = None  # detector input size; None: the backbone recipe's
    seed: int = 0
    n_boot: int = DEFAULT_REPLICATES  # bootstrap replicates of every row's interval
    keep_checkpoints: bool = True  # `detector_runs.checkpoint_path` for later re-scoring


def _spec(key: str, table: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key, group_name=GROUP, deps=["detector_dataset"], kinds={"pytorch", "timm", "duckdb"},
        code_version=CODE_VERSION, metadata=table_metadata(table), description=description,
    )


def scored_part(frame: pl.DataFrame, seed: int, match_sizes: bool) -> pl.DataFrame | None:
    """The rows `evaluation_rows` will use from `frame` (its choice is a seeded hash of image
    ids, not of scores), so a detector scores only those; None when nothing is scorable."""
    sets = balanced_sets(frame.with_columns(pl.lit(0.0).alias("score")), seed,
                         match_sizes=match_sizes)  # fmt: skip
    if not sets:
        return None
    return pl.concat(list(sets.values()), how="diagonal_relaxed").unique("image_id").drop("score")


@dg.multi_asset(
    name="cross_dataset",
    pool="gpu",
    specs=[
        _spec("cross_dataset", "cross_dataset_results",
              "Cross-dataset comparison: one detector per training source (the platform's Hub "
              "fakes, each training collection) at equal image counts, each scored on every "
              "source's held-out part and on the outside evaluation sets; the matrix as rows "
              "of eval_results (protocol 'cross_dataset') and as a plot."),
        _spec(RUNS_TABLE, RUNS_TABLE,
              "The cross-dataset comparison's detector runs, one per training source "
              "(written by cross_dataset)."),
    ],
)
def cross_dataset(
    context: dg.AssetExecutionContext,
    config: CrossDatasetConfig,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
    compute: ComputeResource,
    hub: HubResource,
) -> Iterator[dg.MaterializeResult]:
    try:
        split_id, split = read_split(warehouse)
        plan = plan_cross_dataset(split, collections_with_role(warehouse, ("train", "both")),
                                  fake_cap=config.fake_images, seed=config.seed)  # fmt: skip
        platform_reals = split.filter((pl.col("split") == "test") & (pl.col("label") == "real")
                                      & pl.col("collection").is_null())  # fmt: skip
        outside = external_sets(warehouse, fallback_reals=platform_reals)
        check_sources(list(outside))
    except (LookupError, ValueError) as exc:
        raise dg.Failure(f"cross-dataset comparison: {exc}") from exc
    skipped = dict(plan.skipped)
    sets: dict[str, tuple[pl.DataFrame, bool, str]] = {}
    for name, frame in [*((s, plan.heldout[s]) for s in plan.heldout), *outside.items()]:
        kind = "held_out" if name in plan.heldout else "external"
        match = plan.match_sizes[name] if kind == "held_out" else EXTERNAL_MATCH_SIZES
        part = scored_part(frame, config.seed, match)
        if part is None:
            skipped[name] = (skipped[name] + "; " if name in skipped else "") + (
                "no generator of it has reals to pair with: no column")  # fmt: skip
            continue
        sets[name] = (part, match, kind)
    for name, why in sorted(skipped.items()):
        context.log.warning(f"cross-dataset source {name}: {why}")
    if not sets:
        raise dg.Failure(f"cross-dataset comparison: no evaluation set to score ({skipped})")
    study_id = f"cross-dataset-{utcnow():%Y%m%dT%H%M%S}-{context.run.run_id[:8]}"
    context.log.info(
        f"cross-dataset {study_id}: {len(plan.train)} detector(s) on {plan.n_images} fakes + "
        f"{plan.n_images} reals each (limited by {plan.limited_by}); sets {sorted(sets)}"
    )
    paths = sorted({p for part, _, _ in sets.values() for p in part["path"]})
    abs_paths = [str(image_store.absolute(p)) for p in paths]
    rows: list[dict] = []
    run_rows, seconds = [], []
    decoded = DecodedImages()  # every run reads the same images: decode them once
    with compute.bound_device(holder=f"study {study_id}"):  # one GPU for every run and score
        for source in sorted(plan.train, key=lambda s: (s != HUB, s)):
            frame = plan.train[source]
            run_id = f"{study_id}-{source}"
            t0 = time.perf_counter()
            res = train_on(samples_of(frame, image_store), image_store.home_dir() / "detectors" / run_id,
                           config.backbone, compute, epochs=config.epochs, seed=config.seed,
                           image_size=config.image_size, hub=hub, log=context.log.info,
                           decoded=decoded)  # fmt: skip
            raw = predict(res.checkpoint_dir, abs_paths, device=compute.resolve_device(),
                              decoded=decoded)
            score = pl.DataFrame({"path": paths, "score": np.asarray(raw, dtype=np.float64)})
            for name, (part, match, _) in sorted(sets.items()):
                try:
                    rows += evaluation_rows(
                        part.join(score, on="path", how="left"), run_id=run_id, split_id=split_id,
                        protocol=PROTOCOL, seed=config.seed, n_boot=config.n_boot,
                        match_sizes=match, extra={"eval_set": name, "train_source": source})
                except ValueError as exc:
                    raise dg.Failure(f"cross-dataset {study_id}: {source} on {name}: {exc}") from exc
            seconds.append(time.perf_counter() - t0)
            models = sorted(set(frame.filter(pl.col("label") == "fake")["source"].to_list()))
            row = run_row(run_id, PROTOCOL, config.backbone, models, res, context, split_id=split_id)
            if not config.keep_checkpoints:
                shutil.rmtree(res.checkpoint_dir, ignore_errors=True)
                row["checkpoint_path"] = None
            run_rows.append(row)
            context.log.info(f"cross-dataset: trained on {source} ({seconds[-1]:.1f} s)")
    warehouse.write(RUNS_TABLE, study_id, run_rows)
    warehouse.write("cross_dataset_results", study_id, rows)
    cells = matrix(rows)
    png = matrix_png(cells, f"cross-dataset: mean-over-generators AP, {plan.n_images} fakes + "
                            f"{plan.n_images} reals per detector")  # fmt: skip
    trains, evals = axes(cells)
    elsewhere = {t: _mean([cells[(t, e)] for e in evals if e != t and (t, e) in cells])
                 for t in trains}  # fmt: skip
    yield dg.MaterializeResult(
        asset_key="cross_dataset",
        metadata={
            "study_id": study_id,
            "split_id": split_id,
            **row_count(len(rows)),
            "images_per_detector": dg.MetadataValue.json(
                {"fake": plan.n_images, "real": plan.n_images, "limited_by": plan.limited_by}),
            "train_sources": dg.MetadataValue.json(
                {s: {"own_reals": plan.own_reals[s]} for s in trains}),
            "eval_sets": dg.MetadataValue.json(
                {n: {"kind": k, "match_sizes": m,
                     "n_fake": int((p["label"] == "fake").sum()),
                     "n_real": int((p["label"] == "real").sum())}
                 for n, (p, m, k) in sorted(sets.items())}),  # fmt: skip
            "skipped": dg.MetadataValue.json(dict(sorted(skipped.items()))),
            **table_entries("matrix", matrix_rows(cells)),
            "mean_ap_on_other_sets": dg.MetadataValue.json(elsewhere),
            "seconds_per_run": float(round(float(np.mean(seconds)), 2)),
            **plot_metadata(image_store.home_dir(), study_id, png, "cross-dataset matrix"),
        },
    )
    yield dg.MaterializeResult(
        asset_key=RUNS_TABLE,
        metadata={"study_id": study_id, "split_id": split_id, **row_count(len(run_rows))},
    )


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(float(np.mean(vals)), 4) if vals else None
