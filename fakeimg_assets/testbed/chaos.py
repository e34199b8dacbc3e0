"""`fakeimg chaos`: the tiny zoo plus hostile repos behind a Hub that injects every fault.

A rehearsal of the worst day: the Hub answers 429, 5xx, stalls, truncated and corrupted
bodies (each faulted request fails once, then succeeds), and a sixth of its repos are
hostile. The run must still complete with every healthy model sampled, every hostile or
broken one refused with a permanent reason, no `.bin/.ckpt/.pt/.pth/.pkl/.py` file ever
requested (the server's request log proves it) and no canary fired (nothing unpickled).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakeimg_assets.testbed.chaos_report import ChaosReport, check_outcomes, unrefetched_bodies
from fakeimg_assets.testbed.local_hub.faults import FaultPlan
from fakeimg_assets.testbed.local_hub.reqlog import read_request_log
from fakeimg_assets.testbed.local_hub.server import HubServer
from fakeimg_assets.testbed.zoo.build import build_zoo, load_manifest
from fakeimg_assets.testbed.zoo.hostile import (
    FORBIDDEN_SUFFIXES,
    HOSTILE_MANIFEST,
    build_hostile,
    fired_canaries,
)
from fakeimg_assets.testbed.zoo.models import ZOO_MANIFEST, zoo_models

# High enough that every kind fires several times over the ~580 requests of a run; each
# faulted request fails once (`times=1`), so a client that retries always gets through.
DEFAULT_RATES: dict[str, float] = {
    "429": 0.03,
    "5xx": 0.04,
    "stall": 0.02,
    "truncate": 0.08,
    "corrupt": 0.15,
}


@dataclass(frozen=True)
class ChaosOptions:
    """What the rehearsal runs: fault rates and how much sampling each model gets."""

    rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    fault_seed: int = 0
    stall_s: float = 1.0
    retry_after_s: int = 1
    images_per_model: int = 2
    steps: int = 2
    hostile: bool = True
    max_extra_memory_bytes: int = 8 * 2**30  # address-space guard while the platform runs


def build_chaos_zoo(
    root: Path, *, hostile: bool = True, log: Callable[[str], None] = print
) -> None:
    """The whole tiny zoo plus the hostile repos in `root` (kept if already built)."""
    root = Path(root)
    have = {m.model_id for m in load_manifest(root)} if (root / ZOO_MANIFEST).exists() else set()
    missing = [m.model_id for m in zoo_models() if m.model_id not in have]
    if missing:
        log(f"chaos: building {len(missing)} zoo repos in {root}")
        build_zoo(root, only=missing)
    if hostile and not (root / HOSTILE_MANIFEST).exists():
        log("chaos: building the hostile repos")
        build_hostile(root)


@contextmanager
def address_space_guard(extra_bytes: int = 8 * 2**30) -> Iterator[None]:
    """Cap this process's address space at its current size plus `extra_bytes`.

    A safety net for rehearsals on shared machines: if a resolution bomb ever got past the
    limits, the allocation fails with MemoryError (one failed partition) instead of the
    kernel's OOM killer taking the machine. Restores the previous soft limit on exit.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
        current = pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        yield  # no /proc: no guard
        return
    limit = current + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft != resource.RLIM_INFINITY:
        limit = min(limit, soft)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the run; restore the previous values afterwards."""
    old = {k: os.environ.get(k) for k in (*values, "DAGSTER_HOME")}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_chaos(
    workdir: Path,
    opts: ChaosOptions | None = None,
    *,
    zoo_root: Path | None = None,
    log: Callable[[str], None] = print,
) -> ChaosReport:
    """Build (or reuse `zoo_root`), serve with faults, run the platform, check everything.

    The platform runs in a fresh `workdir/home`; the server's request log goes to
    `workdir/requests.jsonl`. Never raises for a broken expectation: see `report.problems`.
    """
    from fakeimg_assets.platform_run import RunOptions, run_platform  # Dagster: seconds

    opts = opts or ChaosOptions()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    report = ChaosReport()
    t0 = time.perf_counter()
    root = Path(zoo_root) if zoo_root is not None else workdir / "zoo"
    if zoo_root is None:
        build_chaos_zoo(root, hostile=opts.hostile, log=log)
    report.seconds["zoo"] = time.perf_counter() - t0
    report.expected = {m.model_id: m.expect for m in load_manifest(root)}
    home = workdir / "home"
    if home.exists():
        shutil.rmtree(home)  # a fresh FAKEIMG_HOME every time
    plan = FaultPlan(
        dict(opts.rates),
        seed=opts.fault_seed,
        times=1,
        stall_s=opts.stall_s,
        retry_after_s=opts.retry_after_s,
    )
    run_opts = RunOptions(
        images_per_model=opts.images_per_model,
        steps=opts.steps,
        crops_per_photo=2,
        detector=False,
        scaling=False,
        device="cpu",
        batch_size=2,
    )
    t1 = time.perf_counter()
    with HubServer(root, faults=plan, request_log=workdir / "requests.jsonl") as server:
        log(f"chaos: {len(report.expected)} repos at {server.url}, faults {plan.describe()}")
        env = {"FAKEIMG_HOME": str(home), "HF_ENDPOINT": server.url}
        with _environ(env), address_space_guard(opts.max_extra_memory_bytes):
            run = run_platform(run_opts, home=home, log=log)
        requests = server.requests
        report.fault_counts = dict(server.fault_counts)
    report.seconds["run"] = time.perf_counter() - t1
    report.seconds.update({f"{job} job": t for job, t in run.seconds.items()})
    report.steps_failed = list(run.steps_failed)
    report.n_requests = len(requests)
    report.file_requests = sum("/resolve/" in r.path for r in requests)
    for rec in requests:
        report.statuses[rec.status] = report.statuses.get(rec.status, 0) + 1
    report.forbidden_requests = sorted(
        {r.path for r in requests if r.path.endswith(FORBIDDEN_SUFFIXES)}
    )
    report.unrefetched = unrefetched_bodies(read_request_log(workdir / "requests.jsonl"))
    report.canaries = [p.name for p in fired_canaries(root)]
    _read_outcomes(home, report)
    report.problems = check_outcomes(report)
    report.seconds["total"] = time.perf_counter() - t0
    return report


def _read_outcomes(home: Path, report: ChaosReport) -> None:
    """Images per model and each model's latest failure, from the warehouse."""
    from fakeimg_assets.warehouse.store import Warehouse

    if not (home / "warehouse.duckdb").exists() and not (home / "parquet").exists():
        return
    wh = Warehouse(home)
    images = wh.read("images")
    if images.height:
        fakes = images.filter(images["label"] == "fake").group_by("source").len()
        report.sampled = {r["source"]: int(r["len"]) for r in fakes.iter_rows(named=True)}
    failures = wh.read("model_failures")
    if failures.height:
        latest = failures.sort("failed_at").group_by("model_id").last()
        for row in latest.iter_rows(named=True):
            model_id = row["model_id"]
            reason = f"[{row['stage']}] {row['message']}"
            if model_id in report.sampled:
                report.recovered[model_id] = reason
            else:
                report.refused[model_id] = reason
                report.transient[model_id] = bool(row.get("transient"))


def main_chaos(workdir: str | None, opts: ChaosOptions, *, keep: bool = False) -> int:
    """CLI body: run in `workdir` (or a temp dir), print figures, 1 if any problem."""
    from fakeimg_assets.platform_run import quiet_libraries

    quiet_libraries()
    tmp = None if workdir else tempfile.mkdtemp(prefix="fakeimg-chaos-")
    try:
        report = run_chaos(Path(workdir or tmp), opts)  # type: ignore[arg-type]
        print()
        print(report.figures())
        print("chaos: PASSED" if report.ok else f"chaos: FAILED ({len(report.problems)} problems)")
        return 0 if report.ok else 1
    finally:
        if tmp and not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def add_chaos_arguments(parser: Any) -> None:
    """`fakeimg chaos [DIR] [--seed N] [--images-per-model N] [--steps N] [--keep]`."""
    parser.add_argument("dir", nargs="?", default=None, help="work folder (default: a temp dir)")
    from fakeimg_assets.lib.arg_checks import arg_type, check_int

    parser.add_argument("--seed", type=arg_type(check_int, 0), default=0, help="fault seed")
    parser.add_argument("--images-per-model", type=arg_type(check_int, 1), default=2)
    parser.add_argument("--steps", type=arg_type(check_int, 1), default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temp work folder")


def run_chaos_command(args: Any) -> int:
    opts = ChaosOptions(
        fault_seed=args.seed, images_per_model=args.images_per_model, steps=args.steps
    )
    return main_chaos(args.dir, opts, keep=args.keep)
