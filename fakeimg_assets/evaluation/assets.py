"""`detector_evaluation`: the detector just trained, on the split it trained on.

It scores the run `detector` recorded in its latest materialization (else the newest main
run on the latest split), reads that run's `split_id`, and refuses a test side that
shares a model or lineage group with the run's training models. Rows per protocol
(held-out models, families, time windows) and per perturbation land in `eval_results`.
The detectors the family and time protocols train go to `protocol_detectors`, a second
asset of the same step, so each table has one owning asset.
"""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field, field_validator

from fakeimg_assets.automation import evaluation_freshness
from fakeimg_assets.detection.runs import GROUP, num, run_row, samples_of, train_on
from fakeimg_assets.detection.train import load_detector, predict, predict_with_model
from fakeimg_assets.evaluation.fixed_detector import fixed_detector_rows, scored
from fakeimg_assets.evaluation.perturb import PERTURBATIONS
from fakeimg_assets.evaluation.protocols import (
    PROTOCOLS,
    check_protocols,
    family_runs,
    protocol_frames,
    time_windows,
)
from fakeimg_assets.evaluation.rows import evaluation_rows
from fakeimg_assets.lib.arg_checks import check_backbone, check_choices, field_check
from fakeimg_assets.lib.interval_chart import Bar, interval_chart
from fakeimg_assets.lib.metadata_table import readable, table_entries
from fakeimg_assets.lib.plot_files import plot_metadata
from fakeimg_assets.splits.store import latest_split_id, read_split
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import ComputeResource, HubResource, ImageStoreResource, WarehouseResource

CODE_VERSION = "1"  # bump when a change alters what this asset writes (marks it stale)


class EvaluationConfig(dg.Config):
    """Protocols and perturbations to run; the extra protocols train small detectors.

    `protocol_backbone` empty uses the main run's backbone; `window_days`,
    `min_train_models` and `time_exclude_relatives` shape the time-ordered windows.
    """

    protocols: list[str] = Field(default=list(PROTOCOLS), description="Protocols to run, "
                                 f"among {', '.join(PROTOCOLS)}.")
    perturbations: list[str] = Field(default=list(PERTURBATIONS), description="Perturbations "
                                     f"to score under, among {', '.join(PERTURBATIONS)}.")
    seed: int = Field(default=0, ge=0, description="Seed >= 0.")
    n_boot: int = Field(default=1000, ge=1, description="Bootstrap replicates >= 1.")
    protocol_backbone: str = Field(default="", description="A registered backbone for the "
                                   "protocols' small detectors; empty: the main run's.")
    protocol_epochs: int | None = Field(default=2, ge=1, description="Epochs >= 1 of the "
                                        "protocols' detectors; empty: the recipe's.")
    # 0 = all; caps training fakes, never test ones
    protocol_max_fakes_per_model: int = Field(default=8, ge=0, description="Training fakes "
                                              "per model of the protocols' detectors (0: all).")
    # 0 = one held-out-family run per architecture; N = the N largest
    family_max_runs: int = Field(default=0, ge=0, description="Held-out-family runs, the "
                                 "largest architectures first (0: one per architecture).")
    window_days: int = Field(default=365, ge=1, description="Time-ordered window in days.")
    min_train_models: int = Field(default=3, ge=1, description="Fewest training models of a "
                                  "time-ordered window.")
    time_exclude_relatives: bool = False
    protocols_known = field_validator("protocols")(field_check(check_choices, PROTOCOLS))
    perturbations_known = field_validator("perturbations")(
        field_check(check_choices, tuple(PERTURBATIONS)))
    backbone_known = field_validator("protocol_backbone")(
        field_check(check_backbone, empty_ok=True))


def _run_to_score(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dict:
    """The detector run to evaluate: `detector`'s latest materialization, else the newest
    main run trained on the latest split."""
    run_id = None
    event = context.instance.get_latest_materialization_event(dg.AssetKey("detector"))
    if event is not None and event.asset_materialization is not None:
        value = event.asset_materialization.metadata.get("run_id")
        run_id = getattr(value, "value", value)
    if run_id:
        runs = warehouse.query("SELECT * FROM detector_runs WHERE run_id = ?", params=[run_id])
    else:
        runs = warehouse.query(
            "SELECT * FROM detector_runs WHERE purpose = 'main' AND split_id = ? "
            "ORDER BY created_at DESC LIMIT 1",
            params=[latest_split_id(warehouse)],
        )
    if runs.height == 0:
        raise dg.Failure(f"no trained detector {run_id or ''}: materialize detector first")
    return runs.row(0, named=True)


def leaks(split: pl.DataFrame, train_models: list[str]) -> list[str]:
    """Test-side models that the run trained on, or that share a lineage group with one."""
    fakes = split.filter(pl.col("label") == "fake")
    test = fakes.filter(pl.col("split") == "test")
    trained = set(train_models)
    train_groups = set(fakes.filter(pl.col("source").is_in(list(trained)))["group_key"].to_list())
    bad = test.filter(pl.col("source").is_in(list(trained)) | pl.col("group_key").is_in(list(train_groups)))
    return sorted(set(bad["source"].to_list()))


RUNS_TABLE = "protocol_detectors"


@dg.multi_asset(
    name="detector_evaluation",
    pool="gpu",
    specs=[
        dg.AssetSpec(
            "detector_evaluation", group_name=GROUP, deps=["detector"],
            kinds={"pytorch", "duckdb"}, code_version=CODE_VERSION,
            freshness_policy=evaluation_freshness(), metadata=table_metadata("detector_eval_results"),
            description="Balanced AP (with bootstrap intervals), AUC and per-class accuracy of "
            "the detector on its own split's held-out generators; family and time protocols; "
            "robustness.",
        ),
        dg.AssetSpec(
            RUNS_TABLE, group_name=GROUP, deps=["detector"], kinds={"pytorch", "duckdb"},
            code_version=CODE_VERSION, metadata=table_metadata(RUNS_TABLE),
            description="Detectors the family and time protocols train (written by "
            "detector_evaluation).",
        ),
    ],
)
def detector_evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
    compute: ComputeResource,
    hub: HubResource,
) -> Iterator[dg.MaterializeResult]:

    try:
        check_protocols(config.protocols)
        unknown = [p for p in config.perturbations if p not in PERTURBATIONS]
        if unknown:
            raise ValueError(f"unknown perturbation(s) {unknown}; known: {list(PERTURBATIONS)}")
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    run = _run_to_score(context, warehouse)
    run_id, split_id = run["run_id"], run["split_id"]
    if not split_id:
        raise dg.Failure(f"detector run {run_id} recorded no split_id: retrain the detector")
    try:
        split_id, split = read_split(warehouse, split_id)
    except LookupError as exc:
        raise dg.Failure(str(exc)) from exc
    overlap = leaks(split, list(run["train_models"] or []))
    if overlap:
        raise dg.Failure(
            f"split {split_id}: test side overlaps run {run_id}'s training models (or their "
            f"lineage groups): {overlap}"
        )
    test = split.filter(pl.col("split") == "test").sort("image_id")
    with compute.bound_device(holder=f"evaluation of {run_id}"):  # one GPU for every score and run
        device = compute.resolve_device()
        compute.apply_threads()
        model, model_cfg = load_detector(run["checkpoint_path"], device=device)

        def rows_for(frame: pl.DataFrame, rid: str, protocol: str, perturbation=None) -> list[dict]:
            return evaluation_rows(frame, run_id=rid, split_id=split_id, protocol=protocol,
                                   perturbation=perturbation, seed=config.seed, n_boot=config.n_boot)

        rows: list[dict] = []
        try:
            rows += fixed_detector_rows(
                lambda p: predict_with_model(model, model_cfg, p, device=device), test,
                run_id=run_id, split_id=split_id, protocols=config.protocols,
                perturbations=config.perturbations, warehouse=warehouse, image_store=image_store,
                seed=config.seed, n_boot=config.n_boot, log=context.log.info)
            plans = []
            if "held_out_family" in config.protocols:
                plans += [("held_out_family", r) for r in family_runs(split, config.family_max_runs)]
            if "time_ordered" in config.protocols:
                windows = time_windows(split, config.window_days, config.min_train_models,
                                       config.time_exclude_relatives)
                plans += [("time_ordered", r) for r in windows]
            run_rows = []
            backbone = config.protocol_backbone or run["backbone"]
            for protocol, plan in plans:
                train, ptest = protocol_frames(
                    split, plan, config.protocol_max_fakes_per_model, config.seed
                )
                rid = f"{run_id}:{plan.name}"
                res = train_on(
                    samples_of(train, image_store),
                    image_store.home_dir() / "detectors" / rid.replace(":", "-"),
                    backbone, compute, epochs=config.protocol_epochs, seed=config.seed, hub=hub,
                )
                ppaths = [str(image_store.absolute(p)) for p in ptest["path"]]
                scores = predict(res.checkpoint_dir, ppaths, device=device)
                rows += rows_for(scored(ptest, scores), rid, protocol)
                row = run_row(rid, protocol, backbone, list(plan.train_models), res, context)
                run_rows.append({**row, "split_id": split_id})
                context.log.info(f"{protocol} {plan.name}: trained on {len(plan.train_models)} models")
        except ValueError as exc:
            raise dg.Failure(f"evaluation of run {run_id} on split {split_id}: {exc}") from exc
    runs_key = f"{run_id}-protocols".replace(":", "-")
    if run_rows:  # none trained (protocols off): the run's earlier protocol detectors stay
        warehouse.write(RUNS_TABLE, runs_key, run_rows)
    for protocol in sorted({r["protocol"] for r in rows}):  # re-running one keeps the others
        key = f"{run_id}--{protocol}".replace(":", "-")
        warehouse.write("detector_eval_results", key, [r for r in rows if r["protocol"] == protocol])
    yield dg.MaterializeResult(
        asset_key="detector_evaluation",
        metadata=_summary(rows, run_id, split_id, image_store.home_dir()) | row_count(len(rows)),
    )
    yield dg.MaterializeResult(
        asset_key=RUNS_TABLE,
        metadata={"run_id": run_id, "split_id": split_id, "trained": len(run_rows),
                  **row_count(warehouse.read_key(RUNS_TABLE, runs_key).height)},  # this run's
    )


def family_table(rows: list[dict]) -> pl.DataFrame:
    """The paper's table: AP per family group of the held-out generators (no perturbation),
    per protocol and outside set, with intervals."""
    picked = [r for r in rows if r["group_kind"] == "family_group" and r["perturbation"] is None
              and r["protocol"] in ("held_out_models", "external")]
    if not picked:
        return pl.DataFrame()
    return pl.DataFrame([{"eval_set": None, **r} for r in picked],
                        infer_schema_length=None).select(
        "protocol", "eval_set", pl.col("group_value").alias("family_group"), "n_fake", "n_real",
        pl.col("ap").round(3), pl.col("ap_ci_low").round(3), pl.col("ap_ci_high").round(3),
    ).sort("protocol", "eval_set", "family_group", nulls_last=False)


def model_table(rows: list[dict]) -> pl.DataFrame:
    """AP per held-out model (held-out-models protocol, no perturbation), lowest first:
    the generators the detector finds hardest lead."""
    picked = [r for r in rows if r["group_kind"] == "model" and r["perturbation"] is None
              and r["protocol"] == "held_out_models"]
    if not picked:
        return pl.DataFrame()
    return pl.DataFrame(picked, infer_schema_length=None).select(
        pl.col("group_value").alias("model_id"), "n_fake", "n_real", "ap", "ap_ci_low",
        "ap_ci_high",
    ).sort("ap", "model_id", nulls_last=True)


def ap_plot(families: pl.DataFrame, models: pl.DataFrame, run_id: str) -> bytes | None:
    """Per-family and per-model AP with intervals (held-out models); None without either."""
    sections = []
    fam = (families.filter(pl.col("protocol") == "held_out_models")
           if families.height else families)  # fmt: skip
    if fam.height:
        sections.append(("AP by family group", [
            Bar(r["family_group"], r["ap"], r["ap_ci_low"], r["ap_ci_high"])
            for r in fam.iter_rows(named=True)]))
    if models.height:
        sections.append(("AP by held-out model", [
            Bar(r["model_id"], r["ap"], r["ap_ci_low"], r["ap_ci_high"])
            for r in models.sort("ap", descending=True, nulls_last=True).iter_rows(named=True)]))
    if not sections:
        return None
    return interval_chart(sections, title=f"detector {run_id}: held-out generators",
                          axis="balanced AP (95% CI)", reference=0.5, reference_label="chance")


def _summary(rows: list[dict], run_id: str, split_id: str, home: Path) -> dict:
    main = [r for r in rows if r["protocol"] == "held_out_models" and r["perturbation"] is None]
    head = next((r for r in main if r["group_kind"] == "mean_over_models"), None)
    pooled = next((r for r in main if r["group_kind"] == "overall"), None)
    table = pl.DataFrame(rows).filter(
        pl.col("group_kind").is_in(["mean_over_models", "overall"])
    ).select(
        "protocol", "perturbation", "run_id", "group_kind", "n_real", "n_fake",
        "ap", "ap_ci_low", "ap_ci_high",
    )
    meta = {"run_id": run_id, "split_id": split_id, **table_entries("summary", table)}
    families = family_table(rows)
    if families.height:
        meta |= table_entries("ap_by_family_group", families)
    models = model_table(rows)
    if models.height:
        meta |= table_entries("ap_by_model", models)
    png = ap_plot(families, models, run_id)
    if png is not None:
        meta |= plot_metadata(home, f"evaluation-{run_id}".replace(":", "-"), png,
                              "AP by family and model")  # fmt: skip
    outside = [r for r in rows if r["protocol"] == "external" and r["group_kind"] in
               ("mean_over_models", "overall")]
    if outside:
        meta |= table_entries("external_sets", pl.DataFrame(outside).select(
            "eval_set", "group_kind", "n_real", "n_fake", "ap", "ap_ci_low", "ap_ci_high"))
    if head and pooled:
        meta |= {
            "mean_ap": readable(num(head["ap"])),
            "mean_ap_ci": f"[{num(head['ap_ci_low']):.3f}, {num(head['ap_ci_high']):.3f}]",
            "pooled_ap": readable(num(pooled["ap"])),
            "test_accuracy": readable(num(pooled["accuracy"])),
            "held_out_models": sum(r["group_kind"] == "model" for r in main),
        }
    return meta
