"""`fakeimg evaluate`: launch `outside_detector_evaluation` on the persistent instance.

Like `fakeimg run`, the job runs in-process on the Dagster instance under
`$FAKEIMG_HOME/dagster`, so the run, its logs and the asset's materialization show in
`make dev`. Every argument is checked before the job starts (`check_config`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from fakeimg_assets.evaluation.outside_assets import OutsideDetectorConfig, check_config
from fakeimg_assets.evaluation.perturb import PERTURBATIONS

JOB = "evaluate_outside_detector"
ASSET = "outside_detector_evaluation"


@dataclass
class OutsideOptions:
    detector: str
    name: str = ""
    perturbations: list[str] = field(default_factory=lambda: list(PERTURBATIONS))
    n_boot: int = 1000
    batch_size: int = 32
    timeout_s: float = 600.0
    device: str = "cpu"
    log_level: str = "CRITICAL"


def evaluate_outside(opts: OutsideOptions, *, home: Path | None = None) -> pl.DataFrame:
    """Score the detector; returns its `eval_results` rows on the split it was scored on.
    ValueError for a bad argument (before any work) or a failed run (its reason)."""
    from fakeimg_assets.definitions import build_definitions
    from fakeimg_assets.detection.detect import check_device
    from fakeimg_assets.lib.paths import fakeimg_home
    from fakeimg_assets.platform_run import failure_message, prepare_instance
    from fakeimg_assets.warehouse.store import Warehouse
    from resources import ComputeResource

    config = OutsideDetectorConfig(detector=opts.detector, name=opts.name,
                                   perturbations=opts.perturbations, n_boot=opts.n_boot,
                                   batch_size=opts.batch_size, timeout_s=opts.timeout_s)
    _, name = check_config(config)
    check_device(opts.device)
    home = home or fakeimg_home()
    if not (home / "parquet").is_dir():
        raise ValueError(f"{home} holds no fakeimg warehouse: set FAKEIMG_HOME or run "
                         "`fakeimg run` first")
    instance = prepare_instance(home)
    defs = build_definitions(home=str(home), compute=ComputeResource(
        device=opts.device, torch_threads=os.cpu_count()))
    run_config = {"ops": {ASSET: {"config": {**config.model_dump(), "name": name}}},
                  "loggers": {"console": {"config": {"log_level": opts.log_level}}}}
    result = defs.resolve_job_def(JOB).execute_in_process(
        run_config=run_config, instance=instance, raise_on_error=False)
    if not result.success:
        raise ValueError(failure_message(result))
    mats = result.asset_materializations_for_node(ASSET)
    split_id = mats[-1].metadata["split_id"].value
    return Warehouse(home).query(
        "SELECT * FROM eval_results WHERE detector = ? AND split_id = ? AND run_id = ?",
        [name, split_id, f"outside:{name}"])


def headline(rows: pl.DataFrame) -> pl.DataFrame:
    """Mean AP over held-out models (with its interval) per protocol, set and perturbation,
    rounded for reading."""
    if rows.height == 0:
        return rows
    return rows.filter(pl.col("group_kind") == "mean_over_models").select(
        "detector", "protocol", "eval_set", "perturbation", "n_real", "n_fake",
        pl.col("ap").round(3), pl.col("ap_ci_low").round(3), pl.col("ap_ci_high").round(3),
    ).sort("protocol", "eval_set", "perturbation", nulls_last=False)
