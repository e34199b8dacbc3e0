"""`outside_detector_evaluation`: another detector scored on the platform's held-out
generators, the same way the platform's own detector is (`fixed_detector.py`).

Its config names the detector (`detector`: a SPEC, see `outside_spec.py`) and its `name`.
It scores the LATEST split's test side (held-out models, as is and under every
perturbation) and the outside sets; the protocols that retrain (held-out family, time
ordered) do not apply to a fixed detector. Rows land in `outside_eval_results`, one file
per (detector name, split): evaluating a detector again replaces only its rows on that
split. `eval_results` (a union view) shows them beside the platform's, with
`detector` = the name and `run_id` = 'outside:<name>'. `fakeimg evaluate` launches it.
"""

import dagster as dg
import polars as pl

from fakeimg_assets.detection.runs import GROUP, num
from fakeimg_assets.evaluation.fixed_detector import FIXED_PROTOCOLS, fixed_detector_rows
from fakeimg_assets.evaluation.outside_scorers import score_fn
from fakeimg_assets.evaluation.outside_spec import check_name, parse_spec, result_key
from fakeimg_assets.evaluation.perturb import PERTURBATIONS
from fakeimg_assets.lib.metadata_table import readable, table_entries
from fakeimg_assets.splits.store import read_split
from fakeimg_assets.warehouse.table_meta import row_count, table_metadata
from resources import ComputeResource, HubResource, ImageStoreResource, WarehouseResource

CODE_VERSION = "1"  # bump when a change alters what this asset writes
TABLE = "outside_eval_results"
RUN_PREFIX = "outside:"  # eval_results.run_id of an outside detector's rows


class OutsideDetectorConfig(dg.Config):
    """`detector`: a timm folder, `hf-hub:ORG/NAME`, or a command (`cmd:...`) reading image
    paths on stdin and printing one score per line; `name` (default: from the SPEC) is what
    `eval_results.detector` shows."""

    detector: str
    name: str = ""
    protocols: list[str] = list(FIXED_PROTOCOLS)
    perturbations: list[str] = list(PERTURBATIONS)
    seed: int = 0
    n_boot: int = 1000
    batch_size: int = 32
    timeout_s: float = 600.0  # a command's limit per image set


def check_config(config: OutsideDetectorConfig) -> tuple:
    """(spec, name) after every setting is checked; ValueError naming the bad one."""
    spec = parse_spec(config.detector)
    name = check_name(config.name or spec.default_name)
    bad = [p for p in config.protocols if p not in FIXED_PROTOCOLS]
    if bad or not config.protocols:
        raise ValueError(f"protocols {config.protocols}: a fixed detector is scored under "
                         f"{', '.join(FIXED_PROTOCOLS)} (held_out_family and time_ordered "
                         "retrain a detector per held-out part)")
    unknown = [p for p in config.perturbations if p not in PERTURBATIONS]
    if unknown:
        raise ValueError(f"unknown perturbation(s) {unknown}; known: {', '.join(PERTURBATIONS)}")
    for what, value in (("n_boot", config.n_boot), ("batch_size", config.batch_size),
                        ("timeout_s", config.timeout_s)):
        if not value > 0:
            raise ValueError(f"{what} must be > 0, got {value}")
    return spec, name


@dg.asset(
    group_name=GROUP,
    deps=["detector_dataset"],
    kinds={"pytorch", "timm", "duckdb"},
    pool="gpu",
    code_version=CODE_VERSION,
    metadata=table_metadata(TABLE),
    description="An outside detector (timm folder, hf-hub repo or command) scored like the "
    "platform's own on the latest split's held-out generators, every perturbation and the "
    "outside sets, into eval_results under its name (`fakeimg evaluate`).",
)
def outside_detector_evaluation(
    context: dg.AssetExecutionContext,
    config: OutsideDetectorConfig,
    warehouse: WarehouseResource,
    image_store: ImageStoreResource,
    compute: ComputeResource,
    hub: HubResource,
) -> dg.MaterializeResult:
    try:
        spec, name = check_config(config)
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    taken = warehouse.query("SELECT 1 FROM detector_runs WHERE run_id = ? LIMIT 1", [name])
    if taken.height:
        raise dg.Failure(f"detector name {name!r} is a platform run id: pass another name")
    try:
        split_id, split = read_split(warehouse)
    except LookupError as exc:
        raise dg.Failure(str(exc)) from exc
    test = split.filter(pl.col("split") == "test").sort("image_id")
    if test.filter(pl.col("label") == "fake").height == 0:
        raise dg.Failure(f"split {split_id} holds no held-out fakes to score")
    compute.apply_threads()
    try:
        with compute.bound_device(holder=f"outside detector {name}"):  # one GPU for its scores
            score = score_fn(spec, hub=hub, device=compute.resolve_device(),
                             batch_size=config.batch_size, timeout_s=config.timeout_s)
            rows = fixed_detector_rows(
                score, test, run_id=f"{RUN_PREFIX}{name}", split_id=split_id,
                protocols=config.protocols, perturbations=config.perturbations,
                warehouse=warehouse, image_store=image_store, seed=config.seed,
                n_boot=config.n_boot, extra={"detector": name}, log=context.log.info)
    except (ValueError, FileNotFoundError) as exc:
        raise dg.Failure(f"outside detector {name!r} ({spec.kind}): {exc}") from exc
    warehouse.write(TABLE, result_key(name, split_id), rows)
    return dg.MaterializeResult(metadata=summary(rows, name, spec.kind, split_id))


def summary(rows: list[dict], name: str, kind: str, split_id: str) -> dict:
    """The headline (mean AP over held-out models, its interval) and a per-set table."""
    heads = [r for r in rows if r["group_kind"] == "mean_over_models"]
    meta: dict = {"detector": name, "kind": kind, "split_id": split_id, **row_count(len(rows))}
    if heads:
        meta |= table_entries("summary", pl.DataFrame(
            [{"eval_set": None, **r} for r in heads], infer_schema_length=None).select(
            "protocol", pl.col("eval_set"), "perturbation", "n_real", "n_fake",
            pl.col("ap").round(3), pl.col("ap_ci_low").round(3), pl.col("ap_ci_high").round(3)))
    main = next((r for r in heads if r["protocol"] == "held_out_models"
                 and r["perturbation"] is None), None)
    if main:
        meta |= {"mean_ap": readable(num(main["ap"])),
                 "mean_ap_ci": f"[{num(main['ap_ci_low']):.3f}, {num(main['ap_ci_high']):.3f}]"}
    return meta
