"""`fakeimg run`: crawl, add partitions, materialize every asset, on the persistent instance.

The same jobs the UI launches, executed in-process on the instance under
`$FAKEIMG_HOME/dagster`, so `make dev` shows every run afterwards.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fakeimg_assets.instance_config import DAGSTER_YAML, write_instance_config
from fakeimg_assets.paths import fakeimg_home

__all__ = ["DAGSTER_YAML", "RunOptions", "RunReport", "prepare_instance", "run_platform"]



@dataclass
class RunOptions:
    limit: int | None = None
    crawl_limit: int = 0
    images_per_model: int = 16
    steps: int | None = None
    crops_per_photo: int = 0  # per photo and fake size; 0: as many reals as fakes per size
    real_folder: str = ""
    real_dataset: str = ""  # a Hub dataset repo of photos + captions (imagefolder layout)
    post: str = ""  # post-processing for both classes alike, e.g. "jpeg:70-95"
    backbone: str = "tiny-resnet"
    epochs: int | None = None
    device: str = "auto"
    batch_size: int = 4
    scaling: bool = True
    detector: bool = True
    log_level: str = "CRITICAL"  # console noise only: every event is kept in the instance


@dataclass
class RunReport:
    sampled: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    steps_failed: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.steps_failed and bool(self.sampled)


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


def _failure_message(result) -> str:  # noqa: ANN001 - ExecuteInProcessResult
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
            first = msg.strip().splitlines()[0] if msg else "failed"
            first = _MODULE_PATH.sub("", _FAILURE_PREFIX.sub("", first))
            return f"{event.step_key}: {prefix}{first}"
    return "run failed"


def run_platform(
    opts: RunOptions, *, home: Path | None = None, log: Callable[[str], None] = print
) -> RunReport:
    """Crawl, add partitions for the selected models, materialize every asset for them."""
    from fakeimg_assets.catalog.selection import SelectionPolicy, select_models
    from fakeimg_assets.definitions import build_definitions
    from fakeimg_assets.partitions import HUB_MODELS_PARTITIONS_NAME
    from fakeimg_assets.warehouse.store import Warehouse
    from resources import ComputeResource

    home = home or fakeimg_home()
    home.mkdir(parents=True, exist_ok=True)
    if opts.log_level.upper() != "INFO":
        quiet_libraries()
    instance = prepare_instance(home)
    defs = build_definitions(
        home=str(home),
        compute=ComputeResource(device=opts.device, batch_size=opts.batch_size),
    )
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
        report.steps_failed.append(f"hub_crawl: {_failure_message(crawl)}")
        return report
    photos_cfg = {"folder": opts.real_folder, "dataset": opts.real_dataset}
    real = job("real_data", run_config={"ops": {"real_photos": {"config": photos_cfg}}})
    if not real.success:
        report.steps_failed.append(f"real_data: {_failure_message(real)}")
        return report

    catalog = Warehouse(home).read("hub_models").sort("created_at", descending=True, nulls_last=True)
    selected = select_models(catalog.to_dicts(), (), SelectionPolicy(), limit=opts.limit)
    known = set(instance.get_dynamic_partitions(HUB_MODELS_PARTITIONS_NAME))
    new = [m for m in selected if m not in known]
    if new:
        instance.add_dynamic_partitions(HUB_MODELS_PARTITIONS_NAME, new)
    log(f"crawled {catalog.height} models; selected {len(selected)} ({len(new)} new partitions)")

    sampling_cfg: dict[str, object] = {"images_per_model": opts.images_per_model, "post": opts.post}
    crops_cfg = {"crops_per_photo": opts.crops_per_photo, "post": opts.post}
    if opts.steps:
        sampling_cfg["steps"] = opts.steps
    for i, model_id in enumerate(selected, 1):
        result = job(
            "sample_model",
            partition_key=model_id,
            run_config={"ops": {"sampled_images": {"config": sampling_cfg}}},
        )
        if result.success:
            report.sampled.append(model_id)
            log(f"  [{i}/{len(selected)}] {model_id}: ok")
        else:
            report.failed[model_id] = _failure_message(result)
            log(f"  [{i}/{len(selected)}] {model_id}: FAILED {report.failed[model_id]}")

    if report.sampled and not opts.detector:  # reals at the fakes' sizes all the same
        crops = job("real_crops", run_config={"ops": {"real_images": {"config": crops_cfg}}})
        if not crops.success:
            report.steps_failed.append(f"real_crops: {_failure_message(crops)}")
    if opts.detector and report.sampled:
        det_cfg: dict[str, object] = {"backbone": opts.backbone}
        if opts.epochs:
            det_cfg["epochs"] = opts.epochs
        ops = {"detector": {"config": det_cfg}, "real_images": {"config": crops_cfg}}
        if opts.scaling:
            ops["scaling_study"] = {"config": dict(det_cfg)}
        selection = None if opts.scaling else [
            a for a in defs.resolve_job_def("train_detector").asset_layer.executable_asset_keys
            if a.to_user_string() != "scaling_study"
        ]
        det = job("train_detector", run_config={"ops": ops}, asset_selection=selection)
        if not det.success:
            report.steps_failed.append(f"train_detector: {_failure_message(det)}")
    return report
