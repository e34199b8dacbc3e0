"""`fakeimg run`: crawl, add partitions, materialize what is missing or stale.

The same jobs the UI launches, executed in-process on the instance under
`$FAKEIMG_HOME/dagster`, so `make dev` shows every run afterwards. Incremental by default:
`run_plan.plan_partitions` picks the partitions to sample (never sampled, failed, stale
code or upstream data, new Hub revision, other sampling config) and the detector chain
runs only when something was sampled or one of its assets is missing or stale;
`RunOptions.force` re-samples and retrains everything selected.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fakeimg_assets.catalog.selection import SelectionPolicy, select_models
from fakeimg_assets.definitions import build_definitions
from fakeimg_assets.detection.backbones import pretrained_source
from fakeimg_assets.instance_config import DAGSTER_YAML, write_instance_config
from fakeimg_assets.lib.paths import fakeimg_home
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.models.refusals import OUTCOME, REFUSED, REFUSED_REASON
from fakeimg_assets.models.sampling_settings import write_home_settings
from fakeimg_assets.partitions import HUB_MODELS_PARTITIONS_NAME
from fakeimg_assets.run_checks import check_pretrained_weights, check_run_options
from fakeimg_assets.run_plan import (
    CODE_VERSION_TAG,
    plan_partitions,
    sample_code_version,
    stale_assets,
    summarize,
)
from fakeimg_assets.run_progress import JobProgress
from fakeimg_assets.warehouse.store import Warehouse
from resources import ComputeResource, HubResource

__all__ = ["DAGSTER_YAML", "RunOptions", "RunReport", "prepare_instance", "run_platform"]
SETTINGS_TAG = "fakeimg/downstream_settings"  # real crops / detector settings of a run



@dataclass
class RunOptions:
    limit: int | None = None
    crawl_limit: int = 0
    images_per_model: int = 16
    split_seed: int = 0  # photo (and so prompt) sides; detector_dataset must use the same
    steps: int | None = None
    crops_per_photo: int = 0  # per photo and fake size; 0: as many reals as fakes per size
    real_folder: str = ""
    real_dataset: str = ""  # a Hub dataset repo of photos + captions (imagefolder layout)
    post: str = ""  # post-processing for both classes alike, e.g. "jpeg:70-95"
    backbone: str = "tiny-resnet"
    # a pretrained backbone's weights as a local .safetensors file ('' = from the Hub endpoint)
    backbone_weights: str = ""
    epochs: int | None = None
    device: str = "auto"
    batch_size: int = 4
    scaling: bool = True
    studies: bool = True  # the diversity study and the cross-dataset comparison
    # held-out-family runs in the evaluation (one detector each): the largest N architectures;
    # the demo's Hub has 25, which alone took 270 s of a 10-minute demo. 0 = all of them.
    family_max_runs: int = 8
    detector: bool = True
    # False: crawl, add partitions and write the settings, sample nothing: a daemon backfill
    # (of this machine or of a cluster's workers, docs/cluster.md) samples them
    sample: bool = True
    log_level: str = "CRITICAL"  # console noise only: every event is kept in the instance
    force: bool = False  # re-sample every selected partition, retrain the detector chain

    def check(self, *, device: bool = True) -> None:
        """Every field checked (`run_checks.check_run_options`): `OptionError` naming it."""
        check_run_options(self, device=device)


@dataclass
class RunReport:
    sampled: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # model -> why it was refused
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # model -> why it was not sampled
    detector_skipped: str = ""  # why the detector chain did not run, when it did not
    steps_failed: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    to_backfill: list[str] = field(default_factory=list)  # partitions left to a backfill

    @property
    def ok(self) -> bool:
        """No step failed, and something was sampled or found up to date (single models'
        failures are in `failed`; `fakeimg run --strict` makes them fatal)."""
        fresh = any(r == "up to date" for r in self.skipped.values())
        return not self.steps_failed and bool(self.sampled or fresh or self.to_backfill)


def prepare_instance(home: Path):  # -> DagsterInstance
    """The persistent Dagster instance under `$FAKEIMG_HOME/dagster`."""
    from dagster import DagsterInstance

    dagster_home = home / "dagster"
    write_instance_config(dagster_home)  # shipped config; an existing one is left alone
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return DagsterInstance.get()


def quiet_libraries() -> None:
    """Progress bars of huggingface_hub, diffusers and transformers off: the CLI prints its own."""
    import diffusers
    import huggingface_hub
    import transformers

    huggingface_hub.utils.disable_progress_bars()
    diffusers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


_FAILURE_PREFIX = re.compile(r"^[\w.]*Failure: ")
_MODULE_PATH = re.compile(r"^(?:[a-z_]\w*\.)+(?=[A-Z]\w*: )")  # "pkg.mod.TransientError: " -> "TransientError: "


def failure_message(result) -> str:  # noqa: ANN001 - ExecuteInProcessResult
    """`step: what went wrong`, in one line, for the first failed step of an in-process run
    (the user exception Dagster wrapped, not the wrapper)."""
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            data = event.event_specific_data
            err = getattr(data, "error", None)
            # Dagster wraps user exceptions; the cause says what actually went wrong
            while getattr(err, "cause", None) is not None and "DagsterExecutionStep" in (
                getattr(err, "message", "") or ""
            ):
                err = err.cause
            prefix = ""
            if getattr(err, "cls_name", "") == "RetryRequested" and err.cause is not None:
                # transient step retries ran out: say so, then what kept failing
                prefix, err = f"transient, {err.message.strip()}: ", err.cause
            msg = getattr(err, "message", None) or str(err)
            lines = msg.strip().splitlines() if msg else ["failed"]
            first = _MODULE_PATH.sub("", _FAILURE_PREFIX.sub("", lines[0]))
            if "validation error" in first:  # a run config refused: name the field and why
                first += ": " + "; ".join(x.strip() for x in lines[1:3])
            return f"{event.step_key}: {prefix}{first}"
    return "run failed"


def refusal_of(result) -> str | None:  # noqa: ANN001 - ExecuteInProcessResult
    """The `refused_reason` of a successful sampling run that refused its model, else None."""
    for mat in result.asset_materializations_for_node("sampled_images"):
        meta = mat.metadata
        if getattr(meta.get(OUTCOME), "value", None) == REFUSED:
            return str(getattr(meta.get(REFUSED_REASON), "value", "refused"))
    return None


def run_platform(
    opts: RunOptions,
    *,
    home: Path | None = None,
    log: Callable[[str], None] = print,
    defs=None,  # noqa: ANN001 - dg.Definitions; default: fakeimg's own, with opts' compute
    progress: bool = False,
) -> RunReport:
    """Crawl, add partitions for the selected models, materialize what is missing or stale.

    `opts` is checked first (`RunOptions.check`), and a pretrained backbone's weights on the
    endpoint, before anything is written: a bad value raises `OptionError` (a ValueError).
    `progress`: a progress bar over the jobs on stderr (`run_progress.JobProgress`; off when
    stderr is no terminal), `log` lines printed above it."""

    opts.check()
    local_weights = {}
    if opts.detector:  # the weights the detector chain will need, before any crawl or sampling
        hub = (defs.resources or {}).get("hub") if defs is not None else None
        hub = hub if isinstance(hub, HubResource) else HubResource()
        weights = check_pretrained_weights(opts.backbone, hub, opts.backbone_weights)
        if weights:
            log(weights)
        source = pretrained_source(opts.backbone)
        if source is not None and opts.backbone_weights:
            local_weights[source[0]] = opts.backbone_weights
    home = home or fakeimg_home()
    home.mkdir(parents=True, exist_ok=True)
    if opts.log_level.upper() != "INFO":
        quiet_libraries()
    instance = prepare_instance(home)
    defs = defs or build_definitions(
        home=str(home),
        # in-process runs go one at a time: each takes every core (the daemon's share is less)
        compute=ComputeResource(device=opts.device, batch_size=opts.batch_size,
                                torch_threads=os.cpu_count()),
        local_weights=local_weights,
    )
    graph = defs.resolve_asset_graph()
    report = RunReport()

    def job(name: str, run_config: dict | None = None, **kwargs: object):
        t0 = time.perf_counter()
        config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": opts.log_level}}}}
        result = defs.resolve_job_def(name).execute_in_process(
            run_config=config, instance=instance, raise_on_error=False, **kwargs
        )
        report.seconds[name] = report.seconds.get(name, 0.0) + time.perf_counter() - t0
        return result

    log(f"fakeimg: home {home}, Hub {os.environ.get('HF_ENDPOINT') or 'https://huggingface.co'}")
    crawl = job("hub_crawl", run_config={"ops": {"hub_catalog": {"config": {"limit": opts.crawl_limit}}}})
    if not crawl.success:
        report.steps_failed.append(f"hub_crawl: {failure_message(crawl)}")
        return report
    photos_cfg = {"folder": opts.real_folder, "dataset": opts.real_dataset,
                  "split_seed": opts.split_seed}  # the detector split must use the same seed
    real = job("real_data", run_config={"ops": {"real_photos": {"config": photos_cfg}}})
    if not real.success:
        report.steps_failed.append(f"real_data: {failure_message(real)}")
        return report

    catalog = Warehouse(home).read("hub_models").sort("created_at", descending=True, nulls_last=True)
    selected = select_models(catalog.to_dicts(), (), SelectionPolicy(), limit=opts.limit)
    known = set(instance.get_dynamic_partitions(HUB_MODELS_PARTITIONS_NAME))
    new = [m for m in selected if m not in known]
    if new:
        instance.add_dynamic_partitions(HUB_MODELS_PARTITIONS_NAME, new)
    log(f"crawled {catalog.height} models; selected {len(selected)} ({len(new)} new partitions)")

    sampling_cfg: dict[str, object] = {"images_per_model": opts.images_per_model, "post": opts.post}
    if opts.steps:
        sampling_cfg["steps"] = opts.steps
    # the home's settings: what a UI launch or backfill with an empty config samples with
    write_home_settings(home, sampling_cfg, written_by="fakeimg run",
                        written_at=utcnow().isoformat(timespec="seconds"))
    store = Warehouse(home)
    decisions = plan_partitions(
        instance, graph, selected, sampling_config=sampling_cfg, force=opts.force,
        catalog={r["model_id"]: r for r in catalog.to_dicts()},
        failures=store.read("model_failures"),
    )
    log(summarize(decisions))
    report.skipped = {d.model_id: d.reason for d in decisions if not d.sample}
    todo = [d for d in decisions if d.sample]
    if not opts.sample:
        report.to_backfill = [d.model_id for d in todo]
        log(f"{len(todo)} partitions left to a backfill: dagster job backfill -j sample_model "
            "--all (or the UI's Materialize > backfill)")
        return report
    bar = JobProgress(len(todo) + 2, enabled=progress)  # the partitions, report, downstream
    log = bar.wrap(log)
    try:
        _sample_and_train(opts, defs, instance, report, job, log, todo, sampling_cfg, bar)
    finally:
        bar.close()
    _compact(home, report, log)
    return report


def _compact(home: Path, report: RunReport, log: Callable[[str], None]) -> None:
    """The batch's partition files folded into each table's compacted file
    (`warehouse.compaction`), so queries stay fast as partitions pile up."""
    t0 = time.perf_counter()
    try:
        results, _ = Warehouse(home).compact()
    except Exception as exc:  # noqa: BLE001 - the loose files are intact: reads stay right
        report.steps_failed.append(f"compaction: {type(exc).__name__}: {exc}")
        return
    report.seconds["compaction"] = time.perf_counter() - t0
    folded = sum(r.folded for r in results)
    if folded:
        log(f"compacted {folded} partition files into "
            f"{sum(1 for r in results if r.folded)} tables")


def _sample_and_train(opts: RunOptions, defs, instance, report: RunReport, job, log,  # noqa: ANN001
                      todo: list, sampling_cfg: dict, bar: JobProgress) -> None:
    """Sample each partition of `todo`, then the model report and the downstream chain."""
    from dagster import AssetKey

    tags = {CODE_VERSION_TAG: sample_code_version(defs.resolve_asset_graph())}
    for i, d in enumerate(todo, 1):
        model_id = d.model_id
        bar.start(f"sampling {model_id}")
        result = job(
            "sample_model",
            partition_key=model_id,
            run_config={"ops": {"sampled_images": {"config": {
                **sampling_cfg, **({"force": True} if opts.force else {})}}}},
            tags=tags,
        )
        refused = refusal_of(result) if result.success else None
        if refused:
            report.refused[model_id] = refused
            log(f"  [{i}/{len(todo)}] {model_id}: refused ({refused})")
        elif result.success:
            report.sampled.append(model_id)
            log(f"  [{i}/{len(todo)}] {model_id}: ok ({d.reason})")
        else:
            report.failed[model_id] = failure_message(result)
            log(f"  [{i}/{len(todo)}] {model_id}: FAILED {report.failed[model_id]}")
        bar.done()

    bar.start("model_report")
    if todo or not instance.get_latest_materialization_event(AssetKey("model_report")):
        reported = job("report_models")  # every model at a glance, after this round
        if not reported.success:
            report.steps_failed.append(f"model_report: {failure_message(reported)}")
    bar.done()
    bar.start("real crops and detector chain" if opts.detector else "real crops")
    _run_downstream(opts, defs, instance, report, job, log)
    bar.done()


def _run_downstream(opts: RunOptions, defs, instance, report: RunReport, job, log) -> None:  # noqa: ANN001
    """Real crops (and the detector chain) after sampling: all of it when something was
    sampled (or --force), else only the stale or missing assets and what depends on them."""
    import dagster as dg


    name = "train_detector" if opts.detector else "real_crops"
    graph = defs.resolve_asset_graph()
    # a step writing two tables is one multi-asset: select (or leave out) all of its assets
    left_out = set()
    if not opts.scaling:
        left_out |= graph.get(dg.AssetKey("scaling_study")).execution_set_asset_keys
    if not opts.studies:
        for study in ("diversity_study", "cross_dataset"):
            left_out |= graph.get(dg.AssetKey(study)).execution_set_asset_keys
    keys = {k for k in defs.resolve_job_def(name).asset_layer.executable_asset_keys
            if k not in left_out}
    det_cfg: dict[str, object] = {"backbone": opts.backbone}
    if opts.epochs:
        det_cfg["epochs"] = opts.epochs
    configs = {
        "real_images": {"crops_per_photo": opts.crops_per_photo, "post": opts.post},
        "detector": det_cfg,
        "scaling_study": dict(det_cfg),
        "diversity_study": dict(det_cfg),
        "cross_dataset": dict(det_cfg),
        "detector_evaluation": {"family_max_runs": opts.family_max_runs},
    }
    settings = json.dumps({a: c for a, c in configs.items() if dg.AssetKey(a) in keys},
                          sort_keys=True)  # run config is not versioned: compared as a tag
    last = instance.get_runs(dg.RunsFilter(job_name=name, statuses=[dg.DagsterRunStatus.SUCCESS]),
                             limit=1)
    changed = bool(last) and last[0].tags.get(SETTINGS_TAG, settings) != settings
    selection = set(keys)
    fresh = any(r == "up to date" for r in report.skipped.values())
    if not (report.sampled or fresh):
        report.detector_skipped = "no sampled partition to train or cut reals on"
    elif changed and not (report.sampled or opts.force):
        log(f"{name}: settings changed since its last run ({settings}): re-running all of it")
    elif not (report.sampled or opts.force):
        stale = stale_assets(instance, graph, sorted(k.to_user_string() for k in keys))
        if not stale:
            report.detector_skipped = "nothing sampled and every downstream asset up to date"
        else:
            log("re-running stale assets: " + "; ".join(f"{a}: {c}" for a, c in stale.items()))
            selection &= dg.AssetSelection.assets(*stale).downstream().resolve(graph)
            selection = dg.AssetSelection.assets(*selection).required_multi_asset_neighbors(
            ).resolve(graph)
    if report.detector_skipped:
        names = ", ".join(sorted(k.to_user_string() for k in keys))
        log(f"{names}: skipped, {report.detector_skipped}")
        return
    ops = {a: {"config": c} for a, c in configs.items() if dg.AssetKey(a) in selection}
    full = selection == set(defs.resolve_job_def(name).asset_layer.executable_asset_keys)
    result = job(name, run_config={"ops": ops}, asset_selection=None if full else list(selection),
                 tags={SETTINGS_TAG: settings})
    if not result.success:
        report.steps_failed.append(f"{name}: {failure_message(result)}")
