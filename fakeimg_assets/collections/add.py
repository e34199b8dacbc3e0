"""`fakeimg collection add SOURCE [--name NAME] [--role train|eval|both] [--train]`.

Stages the source under `$FAKEIMG_HOME/collections/<name>/` (`stage.py`: every file checked,
problems reported per file), adds one `hub_models` partition per generator
(`collection--<name>/<generator>`) on the persistent instance, then runs the same jobs the
UI launches: `collections` (the warehouse rows and the collection's own reals),
`sample_model` per generator (metadata, images, quality stats and quarantine) and
`real_crops` (photo crops at any new image size). With `--train` the detector chain follows
(audit, split, detector, evaluation and the studies), as `fakeimg run` runs it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fakeimg_assets.collections.stage import stage_collection
from fakeimg_assets.definitions import build_definitions
from fakeimg_assets.lib.paths import collection_key, fakeimg_home
from fakeimg_assets.partitions import HUB_MODELS_PARTITIONS_NAME
from fakeimg_assets.platform_run import failure_message, prepare_instance
from fakeimg_assets.warehouse.store import Warehouse
from resources import ComputeResource, HubResource


@dataclass
class AddReport:
    """What `collection add` did: the partitions it materialized and what failed."""

    name: str = ""
    role: str = ""
    generators: list[str] = field(default_factory=list)
    n_images: int = 0
    n_real: int = 0
    problems: list[str] = field(default_factory=list)  # per file/line of the source
    failed: dict[str, str] = field(default_factory=dict)  # partition or job -> why
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def add_collection(source: str, *, name: str | None = None, role: str = "train",
                   train: bool = False, home: Path | None = None, defs=None,  # noqa: ANN001
                   log: Callable[[str], None] = print) -> AddReport:  # fmt: skip
    """Stage `source` and materialize its partitions; bad input raises ValueError /
    FileNotFoundError naming it before anything is written."""
    home = Path(home or fakeimg_home())
    home.mkdir(parents=True, exist_ok=True)
    report = AddReport()
    t0 = time.perf_counter()
    hub = HubResource(endpoint=os.environ.get("HF_ENDPOINT") or None,
                      token=os.environ.get("HF_TOKEN") or None,
                      cache_dir=str(home / "hf-cache"))  # fmt: skip
    manifest = stage_collection(home, source, name=name, role=role, hub=hub, log=log)
    report.seconds["stage"] = time.perf_counter() - t0
    report.name, report.role = manifest.name, manifest.role
    report.generators = [g.generator for g in manifest.generators]
    report.n_images = sum(g.n_images for g in manifest.generators)
    report.n_real = len(manifest.reals)
    report.problems = [f"{p.file}: {p.reason}" for p in manifest.problems]
    log(f"collection {manifest.name} ({manifest.role}): {len(report.generators)} generators, "
        f"{report.n_images} images, {report.n_real} reals staged in "
        f"{report.seconds['stage']:.1f} s; {len(report.problems)} problem(s)")
    for line in report.problems[:20]:
        log(f"  skipped {line}")
    if len(report.problems) > 20:
        log(f"  ... and {len(report.problems) - 20} more (table collection_rejects)")

    instance = prepare_instance(home)
    defs = defs or build_definitions(home=str(home), compute=ComputeResource(
        torch_threads=os.cpu_count()))  # fmt: skip
    keys = [collection_key(manifest.name, g) for g in report.generators]
    known = set(instance.get_dynamic_partitions(HUB_MODELS_PARTITIONS_NAME))
    new = [k for k in keys if k not in known]
    if new:
        instance.add_dynamic_partitions(HUB_MODELS_PARTITIONS_NAME, new)

    def job(job_name: str, **kwargs: object) -> bool:
        t = time.perf_counter()
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, raise_on_error=False, **kwargs)
        report.seconds[job_name] = report.seconds.get(job_name, 0.0) + time.perf_counter() - t
        if not result.success:
            report.failed[kwargs.get("partition_key") or job_name] = failure_message(result)
        return result.success

    if not job("collections"):
        return report
    for i, key in enumerate(keys, 1):
        ok = job("sample_model", partition_key=key)
        log(f"  [{i}/{len(keys)}] {key}: {'ok' if ok else 'FAILED ' + report.failed[key]}")
    if Warehouse(home).read("real_photos").height:
        job("real_crops")  # photo crops at the collection's image sizes too
    else:
        log("no real photos in this home yet: `fakeimg run` cuts crops at these sizes later")
    if train:
        job("train_detector")
    report.seconds["total"] = time.perf_counter() - t0
    return report
