"""`diversity_study`: one family vs many families at a fixed generator and image count.

The design (k, the fake budget, the draws of both conditions) is `diversity.py`'s pure
functions; this asset trains one small detector per draw on the latest split, scores every
one on the same held-out generators with the evaluation's balanced per-generator sets
(chance AP 0.5), writes one `diversity_results` row per condition x draw, and reports the
verdict (multi minus single, `diversity_verdict.py`) with a plot. Its detectors' runs go to
`diversity_detectors`, the second asset of the same step.
"""

import json
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
from fakeimg_assets.evaluation.rows import balanced_sets
from fakeimg_assets.lib.arg_checks import check_backbone, field_check
from fakeimg_assets.lib.metadata_table import table_entries
from fakeimg_assets.lib.plot_files import plot_metadata
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.splits.store import read_split
from fakeimg_assets.studies.diversity import (
    CONDITIONS,
    SINGLE,
    design_diversity,
    draw_frames,
    generator_families,
    summarize,
)
from fakeimg_assets.studies.diversity_plot import diversity_png
from fakeimg_assets.studies.diversity_verdict import verdict
from fakeimg_assets.studies.scaling_eval import Selections, scores_of
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import ComputeResource, HubResource, ImageStoreResource, WarehouseResource

CODE_VERSION = "1"  # bump when a change alters what this asset writes (marks it stale)
RUNS_TABLE = "diversity_detectors"


class DiversityConfig(dg.Config):
    """`n_train_models` 0 = the largest k a single family can fill and that many families
    exist for (at least 2); `family_by` 'architecture' or 'family_group'; `draws` distinct
    generator subsets per condition; `fake_images` 0 = the most every draw can provide."""

    n_train_models: int = 0
    family_by: str = "architecture"
    draws: int = 3
    fake_images: int = 0
    backbone: str = Field(default="tiny-resnet", description="A registered backbone "
                          "(fakeimg_assets/detection/backbones.py).")
    epochs: int | None = Field(default=2, ge=1, description="Epochs >= 1 per run; empty: "
                               "the recipe's.")
    backbone_known = field_validator("backbone")(field_check(check_backbone))
    image_size: int | None = None  # detector input size; None: the backbone recipe's
    seed: int = 0
    keep_checkpoints: bool = True  # `detector_runs.checkpoint_path` for later re-scoring
    n_boot: int = 2000  # bootstrap replicates of the verdict's intervals


def _spec(key: str, table: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key, group_name=GROUP, deps=["detector_dataset"], kinds={"pytorch", "timm", "duckdb"},
        code_version=CODE_VERSION, metadata=table_metadata(table), description=description,
    )


def heldout_frame(test: pl.DataFrame) -> pl.DataFrame:
    """The test rows the balanced per-generator sets use (the same ones whatever the scores:
    the choice is a seeded hash of image ids), so each detector scores only those."""
    sets = balanced_sets(test.with_columns(pl.lit(0.0).alias("score")), 0)
    if not sets:
        raise ValueError("no held-out generator has test reals at its image sizes")
    return pl.concat(list(sets.values())).unique("image_id").sort("image_id").drop("score")


@dg.multi_asset(
    name="diversity_study",
    pool="gpu",
    specs=[
        _spec("diversity_study", "diversity_results",
              "Diversity study: at a fixed number of training generators and fake images, "
              "detectors trained on one family vs spread over many, several draws each, all "
              "scored on the same held-out generators; the difference with its interval, "
              "and the plot."),
        _spec(RUNS_TABLE, RUNS_TABLE,
              "The diversity study's detector runs, one row per draw (written by "
              "diversity_study)."),
    ],
)
def diversity_study(
    context: dg.AssetExecutionContext,
    config: DiversityConfig,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
    compute: ComputeResource,
    hub: HubResource,
) -> Iterator[dg.MaterializeResult]:
    try:
        split_id, split = read_split(warehouse)
        train = split.filter(pl.col("split") == "train")
        fakes = train.filter(pl.col("label") == "fake")
        reals = train.filter(pl.col("label") == "real")
        test = split.filter(pl.col("split") == "test")
        heldout = sorted(set(test.filter(pl.col("label") == "fake")["source"].to_list()))
        per_model = dict(fakes.group_by("source").len().iter_rows())
        design = design_diversity(
            generator_families(fakes, config.family_by), heldout, per_model,
            family_by=config.family_by, k=config.n_train_models, n_draws=config.draws,
            fake_budget=config.fake_images, n_reals=reals.height, seed=config.seed)
        scored_rows = heldout_frame(test)
        frames = draw_frames(design, fakes, reals, config.seed)
    except (LookupError, ValueError) as exc:
        raise dg.Failure(f"diversity study: {exc}") from exc
    study_id = f"diversity-{utcnow():%Y%m%dT%H%M%S}-{context.run.run_id[:8]}"
    counts = {c: len(design.of(c)) for c in CONDITIONS}
    context.log.info(
        f"diversity study {study_id}: k = {design.k}, {design.n_fake} fakes per run, families "
        f"by {design.family_by}; draws {counts}; {len(heldout)} held-out generators"
    )
    for c, n in counts.items():
        if n < config.draws:
            context.log.warning(f"{c}: only {n} distinct generator subset(s) exist "
                                f"(asked for {config.draws} draws)")  # fmt: skip
    paths = scored_rows["path"].to_list()
    abs_paths = [str(image_store.absolute(p)) for p in paths]
    results, run_rows, seconds = [], [], []
    decoded = DecodedImages()  # every run reads the same images: decode them once
    selections = Selections()  # and is scored on the same balanced sets
    with compute.bound_device(holder=f"study {study_id}"):  # one GPU for every run and score
        for d, frame in frames:
            tag = f"{'single' if d.condition == SINGLE else 'multi'}-d{d.draw}"
            run_id = f"{study_id}-{tag}"
            t0 = time.perf_counter()
            res = train_on(samples_of(frame, image_store), image_store.home_dir() / "detectors" / run_id,
                           config.backbone, compute, epochs=config.epochs, seed=d.init_seed,
                           image_size=config.image_size, hub=hub, log=context.log.info,
                           decoded=decoded)  # fmt: skip
            raw = predict(res.checkpoint_dir, abs_paths, device=compute.resolve_device(),
                              decoded=decoded)
            by_path = dict(zip(paths, (float(x) for x in raw), strict=True))
            try:
                metrics = dict(scores_of(scored_rows, by_path.__getitem__, selections))
            except ValueError as exc:
                raise dg.Failure(f"diversity study {study_id}, run {tag}: {exc}") from exc
            generator_ap = metrics.pop("generator_ap")
            seconds.append(time.perf_counter() - t0)
            row = run_row(run_id, "diversity", config.backbone, list(d.models), res, context,
                          split_id=split_id)  # fmt: skip
            if not config.keep_checkpoints:
                shutil.rmtree(res.checkpoint_dir, ignore_errors=True)
                row["checkpoint_path"] = None
            run_rows.append(row)
            results.append({
                "study_id": study_id, "run_id": run_id, "split_id": split_id,
                "n_train_models": design.k, "condition": d.condition, "draw": d.draw,
                "family_by": design.family_by, "families": list(d.families),
                "n_families": len(d.families), "n_train_images": res.n_train_images,
                "n_train_fake": res.n_fake, "ap": metrics["ap"], "pooled_ap": metrics["pooled_ap"],
                "accuracy": metrics["accuracy"], "auc": metrics["auc"],
                "n_heldout_models": metrics["n_heldout_models"],
                "generator_ap": json.dumps(generator_ap, sort_keys=True),
                "train_models": list(d.models), "draw_seed": d.draw_seed, "init_seed": d.init_seed,
                "created_at": utcnow(),
            })  # fmt: skip
            context.log.info(f"diversity {tag} ({', '.join(d.families)}): held-out AP "
                             f"{metrics['ap']} ({seconds[-1]:.1f} s)")  # fmt: skip
    warehouse.write(RUNS_TABLE, study_id, run_rows)
    warehouse.write("diversity_results", study_id, results)
    try:
        judged = verdict(results, n_boot=config.n_boot, seed=config.seed)
    except ValueError as exc:
        raise dg.Failure(f"diversity study {study_id}: no verdict: {exc}") from exc
    png = diversity_png(results, judged, k=design.k, n_fake=design.n_fake,  # type: ignore[arg-type]
                        family_by=design.family_by)  # fmt: skip
    sizes_of = {}
    for fam in design.families.values():
        sizes_of[fam] = sizes_of.get(fam, 0) + 1
    diff = judged["difference"]
    yield dg.MaterializeResult(
        asset_key="diversity_study",
        metadata={
            "study_id": study_id,
            "split_id": split_id,
            **row_count(len(results)),
            "n_train_models": design.k,
            "fake_images_per_run": design.n_fake,
            "family_by": design.family_by,
            "draws": dg.MetadataValue.json(counts),
            "families": dg.MetadataValue.json(dict(sorted(sizes_of.items()))),
            "heldout_models": dg.MetadataValue.json(list(design.heldout)),
            "single_family": dg.MetadataValue.json(judged[SINGLE]),
            "multi_family": dg.MetadataValue.json(judged["multi_family"]),
            "difference": dg.MetadataValue.json(diff),
            "diversity_helps": bool(diff["holds"]),  # type: ignore[index]
            **table_entries("summary", pl.DataFrame(summarize(results))),
            "seconds_per_run": float(round(float(np.mean(seconds)), 2)),
            **plot_metadata(image_store.home_dir(), study_id, png, "diversity study"),
        },
    )
    yield dg.MaterializeResult(
        asset_key=RUNS_TABLE,
        metadata={"study_id": study_id, "split_id": split_id, **row_count(len(run_rows))},
    )
