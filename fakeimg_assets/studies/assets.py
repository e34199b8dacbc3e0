"""`scaling_study`: held-out AP vs number of training generators, fake images fixed.

The design (held-out set with an unseen architecture, draws per k, budgets, control curve)
is `scaling.py`'s pure functions; this asset trains one small detector per draw on the
latest split, scores the one fixed held-out set with the evaluation's balanced
per-generator sets, writes one `scaling_results` row per draw and draws the figure.
Its detectors' runs go to `scaling_detectors`, a second asset of the same step, so each
table has one owning asset (`detector_runs` is the union view over the detector tables).
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
from fakeimg_assets.lib.arg_checks import check_backbone, field_check
from fakeimg_assets.lib.metadata_table import table_entries
from fakeimg_assets.lib.paths import derive_seed
from fakeimg_assets.lib.plot_files import plot_metadata
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.splits.store import read_split
from fakeimg_assets.studies.baseline import FeatureCache, baseline_scorer
from fakeimg_assets.studies.plot import scaling_png
from fakeimg_assets.studies.scaling import (
    Draw,
    StudyDesign,
    allocate,
    design_study,
    draw_plan,
    families_of,
    lofo_curve_plan,
    lofo_plan,
    lofo_table,
    summarize,
)
from fakeimg_assets.studies.scaling_eval import Selections, eval_sets, score_sets, scores_of
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import ComputeResource, HubResource, ImageStoreResource, WarehouseResource

CODE_VERSION = "2"  # bump when a change alters what this asset writes (marks it stale)


class ScalingConfig(dg.Config):
    """`draws` random model subsets per k (1, 2, 4, ..., all), each with its own seed;
    `fake_images` 0 = the fewest images any training model has; the control repeats the
    whole pool with 2, 4... times that budget (up to `max_control_multiplier`). About 30
    small runs: `epochs` defaults to 2 to keep the CPU demo bounded (None: the recipe's)."""

    draws: int = 5
    control_draws: int = 2
    max_control_multiplier: int = 4
    fake_images: int = 0
    backbone: str = Field(default="tiny-resnet", description="A registered backbone "
                          "(fakeimg_assets/detection/backbones.py).")
    epochs: int | None = Field(default=2, ge=1, description="Epochs >= 1 per run; empty: "
                               "the recipe's.")
    backbone_known = field_validator("backbone")(field_check(check_backbone))
    image_size: int | None = None  # detector input size; None: the backbone recipe's
    seed: int = 0
    # every run's detector is kept (`detector_runs.checkpoint_path`), so a study can be
    # re-scored on evaluation sets that arrive later; they are small
    keep_checkpoints: bool = True
    # True: one architecture is always left out of the pool, so the curve is about unseen
    # families; False: the curve is about unseen generators of the pool's families, and
    # `leave_one_family_out` measures unseen families one by one.
    hold_out_family: bool = True
    leave_one_family_out: bool = False
    # k = 1: every pool generator alone (instead of `draws` of them)
    every_single: bool = False
    # the leave-one-family-out curve: `lofo_curve_draws` runs per k of other-family
    # generators (0: no curve)
    lofo_curve_draws: int = 0
    # the pixel-statistics baseline trained and scored on every run's own frames
    baseline: bool = True


def _hash_head(df: pl.DataFrame, n: int, *salt: object) -> pl.DataFrame:
    """`n` rows chosen by a seeded hash of image_id: reproducible, nested as n grows."""
    keys = [derive_seed(*salt, i) for i in df["image_id"]]
    return df.with_columns(pl.Series("_k", keys)).sort("_k", "image_id").head(n).drop("_k")


def _train_frame(draw: Draw, fakes: pl.DataFrame, reals: pl.DataFrame, per_model: dict,
                 seed: int) -> pl.DataFrame:  # fmt: skip
    alloc = allocate(draw.models, per_model, draw.n_fake)
    parts = [
        _hash_head(fakes.filter(pl.col("source") == m), c, "scaling-fakes", draw.draw_seed, m)
        for m, c in sorted(alloc.items())
    ]
    # one fixed real sample for the whole study (nested: a bigger budget adds reals)
    parts.append(_hash_head(reals, draw.n_fake, "scaling-reals", seed))
    return pl.concat(parts)


def _design(
    split: pl.DataFrame, seed: int, hold_out_family: bool
) -> tuple[StudyDesign, pl.DataFrame, pl.DataFrame]:
    fakes = split.filter(pl.col("label") == "fake")
    fam = {r["source"]: r["architecture"] or "unknown"
           for r in fakes.select("source", "architecture").unique().iter_rows(named=True)}  # fmt: skip
    train_ids = set(fakes.filter(pl.col("split") == "train")["source"].to_list())
    test_ids = set(fakes.filter(pl.col("split") == "test")["source"].to_list())
    design = design_study({m: fam[m] for m in train_ids}, {m: fam[m] for m in test_ids}, seed,
                          hold_out_family=hold_out_family)  # fmt: skip
    train = split.filter(pl.col("split") == "train")
    test = split.filter(
        (pl.col("split") == "test")
        & ((pl.col("label") == "real") | pl.col("source").is_in(list(design.heldout)))
    )
    return design, train, test


RUNS_TABLE = "scaling_detectors"


def _spec(key: str, table: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key, group_name=GROUP, deps=["detector_dataset"], kinds={"pytorch", "timm", "duckdb"},
        code_version=CODE_VERSION, metadata=table_metadata(table), description=description,
    )


@dg.multi_asset(
    name="scaling_study",
    pool="gpu",
    specs=[
        _spec("scaling_study", "scaling_results",
              "Scaling study: held-out mean AP vs number of training generators (fake images "
              "fixed, 5 draws per k, spread), a fixed-generator control curve, and the plot."),
        _spec(RUNS_TABLE, RUNS_TABLE,
              "The scaling study's detector runs, one row per draw (written by scaling_study)."),
    ],
)
def scaling_study(
    context: dg.AssetExecutionContext,
    config: ScalingConfig,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
    compute: ComputeResource,
    hub: HubResource,
) -> Iterator[dg.MaterializeResult]:

    try:  # the latest split version (detector_splits keeps every version)
        split_id, split = read_split(warehouse)
        design, train, test = _design(split, config.seed, config.hold_out_family)
        per_model = dict(
            train.filter(pl.col("label") == "fake").group_by("source").len().iter_rows()
        )
        plan = draw_plan(design, per_model, n_draws=config.draws,
                         control_draws=config.control_draws,
                         max_control_multiplier=config.max_control_multiplier,
                         fake_budget=config.fake_images, seed=config.seed,
                         every_single=config.every_single)  # fmt: skip
        runs = [(d, "scaling_control" if d.control else "scaling") for d in plan]
        train_ids = sorted(per_model)
        if config.leave_one_family_out:
            runs += [(d, "leave_one_family_out")
                     for d in lofo_plan(design, train_ids, plan[0].n_fake, config.seed)]
        if config.lofo_curve_draws:
            runs += [(d, "lofo_curve") for d in lofo_curve_plan(
                design, train_ids, plan[0].n_fake, n_draws=config.lofo_curve_draws,
                seed=config.seed)]  # fmt: skip
    except (LookupError, ValueError) as exc:
        raise dg.Failure(f"scaling study: {exc}") from exc
    fakes = train.filter(pl.col("label") == "fake")
    reals = train.filter(pl.col("label") == "real")
    study_id = f"scaling-{utcnow():%Y%m%dT%H%M%S}-{context.run.run_id[:8]}"
    context.log.info(
        f"scaling study {study_id}: {len(runs)} runs; pool {len(design.pool)} models, held out "
        f"{len(design.heldout)} (unseen families {list(design.unseen_families)})"
    )
    results, run_rows, seconds = [], [], []
    home = image_store.home_dir()  # resolved once, not per path of every run
    features = FeatureCache(image_store.absolute)
    decoded = DecodedImages()  # every run reads the same images: decode them once
    selections = Selections()  # and is scored on the same balanced sets
    with compute.bound_device(holder=f"study {study_id}"):  # one GPU for every run and score
        for d, protocol in runs:
            frame = _train_frame(d, fakes, reals, per_model, config.seed)
            tag = {"leave_one_family_out": f"lofo-{d.left_out}",
                   "lofo_curve": f"lofo-curve-k{d.k}-d{d.draw}-{d.left_out}"}.get(
                protocol, f"{'c' if d.control else 'k'}{d.k}-f{d.n_fake}-d{d.draw}")  # fmt: skip
            run_id = f"{study_id}-{tag}"
            t0 = time.perf_counter()
            res = train_on(samples_of(frame, image_store), image_store.home_dir() / "detectors" / run_id,
                           config.backbone, compute, epochs=config.epochs, seed=d.init_seed,
                           image_size=config.image_size, hub=hub, log=context.log.info,
                           decoded=decoded)  # fmt: skip
            try:
                sets = eval_sets(d, design, test, fakes, frame, config.seed)
                paths = sorted({p for df in sets.values() for p in df["path"]})
                raw = predict(res.checkpoint_dir, [str(home / p) for p in paths],
                              device=compute.resolve_device(),
                              decoded=decoded)  # fmt: skip
                by_path = dict(zip(paths, (float(x) for x in raw), strict=True))
                scored = score_sets(sets, by_path.__getitem__, selections)
                base = None
                if config.baseline:
                    score = baseline_scorer(features, frame["path"].to_list(),
                                            (frame["label"] == "fake").cast(pl.Int64).to_list(),
                                            d.init_seed)  # fmt: skip
                    base = scores_of(sets["heldout"], score(paths).__getitem__, selections)
            except ValueError as exc:
                raise dg.Failure(f"scaling study {study_id}, run {tag}: {exc}") from exc
            metrics = dict(scored["heldout"])
            generator_ap = metrics.pop("generator_ap")
            seconds.append(time.perf_counter() - t0)
            purpose = "scaling_lofo" if d.left_out else "scaling_control" if d.control else "scaling"
            row = run_row(run_id, purpose, config.backbone,
                          list(d.models), res, context, split_id=split_id)  # fmt: skip
            if not config.keep_checkpoints:
                shutil.rmtree(res.checkpoint_dir, ignore_errors=True)
                row["checkpoint_path"] = None
            run_rows.append(row)
            results.append({
                "study_id": study_id, "run_id": run_id, "split_id": split_id,
                "n_train_models": d.k, "draw": d.draw, "control": d.control,
                "n_families": families_of(d.models, design.families),
                "n_train_images": res.n_train_images, "n_train_fake": res.n_fake, **metrics,
                "seen_ap": scored["seen"]["ap"] if "seen" in scored else None,
                "ap_other": scored["other"]["ap"] if "other" in scored else None,
                "protocol": protocol,
                "left_out_family": d.left_out,
                "generator_ap": json.dumps(generator_ap, sort_keys=True),
                "baseline_ap": base["ap"] if base else None,
                "baseline_generator_ap": json.dumps(base["generator_ap"], sort_keys=True)
                                         if base else None,
                "unseen_families": list(design.unseen_families), "train_models": list(d.models),
                "draw_seed": d.draw_seed, "init_seed": d.init_seed, "created_at": utcnow(),
            })  # fmt: skip
            context.log.info(f"scaling {tag}: held-out AP {metrics['ap']}, seen AP "
                             f"{scored.get('seen', {}).get('ap')} ({seconds[-1]:.1f} s)")
    warehouse.write(RUNS_TABLE, study_id, run_rows)
    warehouse.write("scaling_results", study_id, results)
    summary = summarize(results)
    png = scaling_png([r for r in results if not r["left_out_family"]], summary)
    yield dg.MaterializeResult(
        asset_key="scaling_study",
        metadata={
            "study_id": study_id,
            "split_id": split_id,
            "runs": len(runs),
            **row_count(len(results)),
            "fake_images_per_run": plan[0].n_fake,
            "heldout_models": dg.MetadataValue.json(list(design.heldout)),
            "unseen_families": dg.MetadataValue.json(list(design.unseen_families)),
            "seconds_per_run": float(round(float(np.mean(seconds)), 2)),
            **plot_metadata(image_store.home_dir(), study_id, png, "scaling study"),
            **table_entries("curve", pl.DataFrame(summary)),
            **(table_entries("leave_one_family_out", pl.DataFrame(lofo_table(results)))
               if config.leave_one_family_out else {}),
        }
    )
    yield dg.MaterializeResult(
        asset_key=RUNS_TABLE,
        metadata={"study_id": study_id, "split_id": split_id, **row_count(len(run_rows))},
    )
