"""Benchmark: a daemon backfill of the demo's partitions vs `fakeimg run` for the same ones.

Both run on one home and one Dagster instance, against the demo zoo served on loopback:
1. `fakeimg run --no-detector` crawls, adds every selected model as a partition and samples
   them in process (the baseline: first sample_model run start -> last run end);
2. `dagster-daemon run` is started on the instance `fakeimg run` wrote (the shipped
   dagster.yaml: queue, pool limits, retries), and `dagster job backfill -j sample_model`
   submits the very same partitions, as the UI's backfill does; the value is backfill
   submission -> last backfill run end, read from the instance.
Same sampling settings (the asset defaults), same partitions, same machine. Failing
partitions (the zoo's hostile repos) fail in both.

`make bench` runs it; alone: `python -m benchmarks.backfill [LIMIT]` (also recorded).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def _runs(dagster_home: Path, **filters: object) -> list:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        return list(instance.get_run_records(dg.RunsFilter(**filters)))


def _span(records: list) -> float:
    """Seconds from the first run's start to the last run's end."""
    starts = [r.start_time for r in records if r.start_time]
    ends = [r.end_time for r in records if r.end_time]
    return max(ends) - min(starts)


def stop(daemon: subprocess.Popen) -> None:
    """Stop a `dagster-daemon` (SIGTERM, then SIGKILL after 60 s)."""
    daemon.terminate()
    try:
        daemon.wait(60)
    except subprocess.TimeoutExpired:
        daemon.kill()


def sample_with_cli(env: dict[str, str], dagster_home: Path, limit: int | None,
                    timeout_s: float) -> tuple[list[str], float, int]:
    """`fakeimg run --no-detector`: (partitions, seconds of its sample_model runs, successes)."""
    cli = [str(BIN / "fakeimg"), "run", "--no-detector", "--real-dataset",
           "fakeimg/demo-photos", *(["--limit", str(limit)] if limit else [])]
    subprocess.run(cli, env=env, cwd=ROOT, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, timeout=timeout_s)
    runs = _runs(dagster_home, job_name="sample_model")
    partitions = sorted({r.dagster_run.tags["dagster/partition"] for r in runs})
    return partitions, _span(runs), sum(r.dagster_run.status.value == "SUCCESS" for r in runs)


def backfill_with_daemon(env: dict[str, str], dagster_home: Path, partitions: list[str],
                         log_path: Path, timeout_s: float) -> tuple[float, int]:
    """`dagster-daemon run` + `dagster job backfill` of `partitions`: (seconds from
    submission to the last backfill run's end, successes)."""
    before = {r.dagster_run.run_id for r in _runs(dagster_home, job_name="sample_model")}
    with log_path.open("w") as log:
        daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                                  env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        try:
            t0 = time.time()
            subprocess.run(
                [str(BIN / "dagster"), "job", "backfill", "-w", "workspace.yaml",
                 "-j", "sample_model", "--partitions", ",".join(partitions), "--noprompt"],
                env=env, cwd=ROOT, check=True, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, timeout=600,
            )
            while True:
                runs = [r for r in _runs(dagster_home, job_name="sample_model")
                        if r.dagster_run.run_id not in before]
                if len(runs) >= len(partitions) and all(
                    r.dagster_run.status.value in TERMINAL for r in runs
                ):
                    break
                if daemon.poll() is not None or time.time() - t0 > timeout_s:
                    raise RuntimeError(f"backfill unfinished: {len(runs)} runs, daemon "
                                       f"rc {daemon.poll()}; see {log_path}")
                time.sleep(1)
        finally:
            stop(daemon)
    return max(r.end_time for r in runs) - t0, sum(
        r.dagster_run.status.value == "SUCCESS" for r in runs)


def bench_backfill(tmp: Path, limit: int | None = None, timeout_s: float = 3600) -> list[dict]:
    from fakeimg_assets.sampling.worker_client import stop_worker
    from fakeimg_assets.testbed.local_hub.server import HubServer

    zoo, home = tmp / "backfill-zoo", tmp / "backfill-home"
    subprocess.run([str(BIN / "fakeimg"), "zoo", "build", str(zoo)], check=True,  # as make demo
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=timeout_s)
    dagster_home = home / "dagster"
    with HubServer(zoo) as server:
        env = {**os.environ, "HF_ENDPOINT": server.url, "HF_TOKEN": "",
               "FAKEIMG_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
        partitions, baseline, cli_ok = sample_with_cli(env, dagster_home, limit, timeout_s)
        try:
            value, ok = backfill_with_daemon(env, dagster_home, partitions, tmp / "daemon.log",
                                             timeout_s)
        finally:
            stop_worker(home)  # the runs' warm sampling worker (sampling/worker.py)
    if ok != cli_ok:
        raise RuntimeError(f"the backfill sampled {ok} partitions, fakeimg run {cli_ok}")
    return [{
        "name": f"backfill: daemon vs fakeimg run ({len(partitions)} demo partitions)",
        "value": value, "unit": "s", "baseline": baseline, "ratio": value / baseline,
        "target": 2.0, "n": len(partitions), "succeeded": ok, "cpus": os.cpu_count(),
    }]


def main(argv: list[str]) -> int:
    from benchmarks.sensor_tick import record

    limit = int(argv[0]) if argv else None
    # a run process still flushing its event log must not lose the measurement
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmpdir:
        entries = bench_backfill(Path(tmpdir), limit)
        for r in entries:
            print(f"{r['name']}: {r['value']:.1f} s vs {r['baseline']:.1f} s, ratio "
                  f"{r['ratio']:.2f}", flush=True)
        record(entries)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
