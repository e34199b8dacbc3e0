"""`fakeimg science` (`make science`): the paper's finding, measured end to end on a CPU.

World build (cached) -> the world served over the Hub API on loopback -> `fakeimg run`'s
crawl, partitions, sampling and real crops from the `world/photos` dataset -> the detector
split -> the scaling study (draws per k, seen-generator control, leave-one-family-out) ->
a report (`$FAKEIMG_HOME/science/report.md` + `.json`) and the verdict on the finding.
Nothing here is specific to the world except which Hub it serves: the same assets run on
the real Hub.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fakeimg_assets.lib.paths import fakeimg_home
from fakeimg_assets.splits.lineage import ModelLineage, lineage_groups, weight_sha256s_of
from fakeimg_assets.splits.sides import DEFAULT_TEST_FRACTION, model_side
from fakeimg_assets.testbed.local_hub.server import HubServer
from fakeimg_assets.testbed.world.build import build_world
from fakeimg_assets.testbed.world.cache import WORLD_MANIFEST
from fakeimg_assets.testbed.world.dataset import WORLD_PHOTOS_ID
from fakeimg_assets.testbed.world.findings import (
    Finding,
    curve_table,
    judge,
    lofo_markdown,
    report_markdown,
)
from fakeimg_assets.testbed.world.spec import (
    DEFAULT_STEPS,
    DEFAULT_VAE_STEPS,
    FAMILIES,
    WORLD_ORG,
    default_world,
    get_family,
)


@dataclass
class ScienceOptions:
    """What `make science` runs; the defaults are the committed run's."""
    generators: int = 25
    steps: int = DEFAULT_STEPS
    vae_steps: int = DEFAULT_VAE_STEPS
    world_seed: int = 0
    families: tuple[str, ...] = ()  # () = every registered family
    images_per_model: int = 400
    sampling_steps: int = 20
    batch_size: int = 64
    draws: int = 3
    fake_images: int = 320  # per scaling run (and as many reals); < images_per_model
    epochs: int = 10
    image_size: int = 32  # the detector sees the world's 32 px images at their own size
    backbone: str = "world-resnet"
    seed: int = 0  # the scaling study's draws
    # photo sides and generator sides (lineage groups), one seed for both; None: the first
    # seed >= 0 that leaves every family with lineage groups on both sides (see below)
    split_seed: int | None = None
    force_world: bool = False


def family_sides(
    spec: Any, files: dict[str, str], seed: int, test_fraction: float
) -> dict[str, set[str]]:
    """`{architecture: sides its lineage groups fall on}` for a split seed, computed with the
    platform's own lineage rule (declared base models, denoiser weight sha256s from the
    world manifest) and side hash, before anything is served or sampled."""
    models, arch = [], {}
    for g in spec.generators:
        prefix = f"{g.model_id}/"
        own = {p[len(prefix):]: sha for p, sha in files.items() if p.startswith(prefix)}
        shas = tuple(weight_sha256s_of(json.dumps(own)))
        models.append(ModelLineage(g.model_id, (g.base,) if g.base else (), shas, g.created_at))
        arch[g.model_id] = get_family(g.family).arch
    out: dict[str, set[str]] = {}
    for model_id, key in lineage_groups(models).items():
        out.setdefault(arch[model_id], set()).add(model_side(key, test_fraction, seed))
    return out


def balanced_split_seed(spec: Any, files: dict[str, str], *, tries: int = 1000) -> int:
    """The first split seed that gives every family lineage groups on both sides.

    Why: the scaling curve is about unseen *generators* of the families it trains on, and
    the leave-one-family-out table about unseen *families*. A seed that puts a family's
    every group on the test side mixes the two in the curve (with seed 0, all of sdxl was
    held out) and drops that family from the table. The rule reads only the world's
    lineage, never a detector's score.
    """
    for seed in range(tries):
        sides = family_sides(spec, files, seed, DEFAULT_TEST_FRACTION)
        if all(s == {"train", "test"} for s in sides.values()):
            return seed
    raise ValueError(f"no split seed in 0..{tries - 1} puts every family on both sides; "
                     "a family with one lineage group cannot be (give it two bases)")  # fmt: skip


def check_home(home: Path) -> None:
    """Refuse a home holding models from another Hub: they would enter the study's split."""
    from fakeimg_assets.warehouse.store import Warehouse

    models = Warehouse(home).read("hub_models")["model_id"].to_list()  # empty when fresh
    foreign = sorted(m for m in models if not m.startswith(f"{WORLD_ORG}/"))
    if foreign:
        raise ValueError(
            f"FAKEIMG_HOME {home} already holds {len(foreign)} models from another Hub (e.g. "
            f"{foreign[0]}); the science run needs a home of its own, e.g. "
            f"`make science FAKEIMG_HOME=data/science`"
        )


def run_science(
    home: Path, opts: ScienceOptions, *, log: Any = print
) -> tuple[Finding, dict[str, Any]]:
    """Build (or reuse) the world, run the platform against it, return the verdict + report."""
    from fakeimg_assets.platform_run import RunOptions, run_platform

    home = Path(home)
    check_home(home)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    world_dir = home / "world-hub"

    spec = default_world(opts.generators, seed=opts.world_seed,
                         families=tuple(opts.families) or tuple(FAMILIES))  # fmt: skip
    built = build_world(world_dir, spec, steps=opts.steps, vae_steps=opts.vae_steps,
                        log=log, force=opts.force_world)  # fmt: skip
    seconds["world_build"] = time.perf_counter() - t0
    build_s = sum(b.seconds for b in built)
    if opts.split_seed is None:
        files = json.loads((world_dir / WORLD_MANIFEST).read_text())["files"]
        opts.split_seed = balanced_split_seed(spec, files)
        log(f"split seed {opts.split_seed}: the first that puts every family on both sides")
    log(f"world: {len(built)} generators ({', '.join(spec.families)}); training took "
        f"{build_s:.0f} s when built")
    with HubServer(world_dir) as server:
        old = os.environ.get("HF_ENDPOINT")
        os.environ["HF_ENDPOINT"] = server.url  # for this process's run only
        try:
            t1 = time.perf_counter()
            report = run_platform(RunOptions(
                images_per_model=opts.images_per_model, steps=opts.sampling_steps,
                real_dataset=WORLD_PHOTOS_ID, batch_size=opts.batch_size, detector=False,
                split_seed=opts.split_seed,
            ), home=home, log=log)  # fmt: skip
            seconds["sample_and_reals"] = time.perf_counter() - t1
            if not report.ok or report.failed:
                raise RuntimeError(f"platform run failed: {report.steps_failed or report.failed}")
            t2 = time.perf_counter()
            study_id = _scaling(home, opts)
            seconds["scaling_study"] = time.perf_counter() - t2
        finally:
            if old is None:
                os.environ.pop("HF_ENDPOINT", None)
            else:
                os.environ["HF_ENDPOINT"] = old
    seconds["total"] = time.perf_counter() - t0
    return _report(home, study_id, opts, seconds, built)


def _scaling(home: Path, opts: ScienceOptions) -> str:
    """detector_dataset + scaling_study on the persistent instance; returns the study id."""
    from dagster import AssetKey

    from fakeimg_assets.definitions import build_definitions
    from fakeimg_assets.platform_run import failure_message, prepare_instance
    from fakeimg_assets.warehouse.store import Warehouse
    from resources import ComputeResource

    instance = prepare_instance(home)
    compute = ComputeResource(device="auto", torch_threads=os.cpu_count())
    defs = build_definitions(home=str(home), compute=compute)
    config = {"ops": {
        # the split's defaults: the same sides real_photos used for the photos and prompts
        "detector_dataset": {"config": {"seed": opts.split_seed}},
        "scaling_study": {"config": {
            "draws": opts.draws, "control_draws": 1, "max_control_multiplier": 2,
            "fake_images": opts.fake_images, "backbone": opts.backbone, "epochs": opts.epochs,
            "image_size": opts.image_size,
            "seed": opts.seed, "hold_out_family": False, "leave_one_family_out": True,
        }},
    }}  # fmt: skip
    job = defs.resolve_job_def("train_detector")
    result = job.execute_in_process(
        run_config=config, instance=instance, raise_on_error=False,
        asset_selection=[  # each step's every asset (multi-assets)
            AssetKey(k) for k in
            ("detector_dataset", "split_versions", "scaling_study", "scaling_detectors")
        ],
    )
    if not result.success:
        raise RuntimeError(f"scaling study failed: {failure_message(result)}")
    studies = Warehouse(home).read("scaling_results")["study_id"]
    return str(studies.max())


def _report(
    home: Path, study_id: str, opts: ScienceOptions, seconds: dict[str, float], built: list
) -> tuple[Finding, dict[str, Any]]:
    import polars as pl

    from fakeimg_assets.warehouse.store import Warehouse

    rows = Warehouse(home).read("scaling_results").filter(pl.col("study_id") == study_id)
    finding = judge(rows.to_dicts())
    out = home / "science"
    out.mkdir(parents=True, exist_ok=True)
    plot = home / "plots" / f"{study_id}.png"
    if plot.is_file():
        shutil.copyfile(plot, out / "scaling-curve.png")
    for grid in sorted((home / "world-hub").glob("grid-*.png")):
        shutil.copyfile(grid, out / grid.name)
    doc = {
        "study_id": study_id, "options": asdict(opts), "seconds": seconds,
        "world_train_seconds": sum(b.seconds for b in built), "finding": asdict(finding),
    }
    (out / "report.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    (out / "report.md").write_text(report_markdown(finding, doc))
    return finding, doc


def science_command(args: Any) -> int:
    """`fakeimg science`: prints the table and the verdict; exit 0 whatever the verdict
    (it is a measurement), 1 only with `--strict` when the finding does not hold."""
    opts = ScienceOptions()
    for name in asdict(opts):
        value = getattr(args, name, None)
        if value is not None:
            setattr(opts, name, value)
    home = fakeimg_home()
    finding, doc = run_science(home, opts)
    print("\nheld-out AP vs number of training generators (fake images fixed per run):")
    print(curve_table(finding))
    print("\nleave one family out:")
    print(lofo_markdown(finding))
    verdict = "holds" if finding.holds else "does NOT hold: " + "; ".join(finding.failures)
    print(f"\nfinding {verdict}")
    print(f"total {doc['seconds']['total']:.0f} s; report: {home / 'science' / 'report.md'}")
    return 1 if (args.strict and not finding.holds) else 0
