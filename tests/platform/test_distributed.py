"""Several workers on Dagster's own engines (issue 22, part 2): a Postgres-backed instance,
runs launched as Celery tasks onto two workers sharing one Redis broker, a daemon backfill of
the demo zoo, and one worker SIGKILLed mid-run.

Real servers from the system's packages (`make distributed-deps`), real `dagster-daemon`,
`dagster job backfill`, `celery worker` processes and the real sampling path: nothing mocked.
Checks: both workers ran partitions; every healthy partition sampled its images exactly once
(0 lost, 0 duplicated); the killed worker's run was resumed on the other worker (only delayed);
the refused repos failed as they do on one machine; a `compact_warehouse` run on a worker then
folds the partition files, and the rows are checked through it; `train_detector` (the whole
detector chain, `workspace-cluster.yaml`: every step in the worker's process) succeeds there.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers.cluster_services import cluster_test_marks, postgres_server, redis_server

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
IMAGES_PER_MODEL = 6
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
pytestmark = cluster_test_marks(("dagster_celery", "dagster_postgres", "redis"))


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:  # own process group: killing it kills its pool processes too
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _worker_of(launcher, run) -> str | None:  # noqa: ANN001
    """The Celery worker (`name@host`) that holds or ran a run's current task."""
    from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

    task_id = run.tags.get(DAGSTER_CELERY_TASK_ID_TAG)
    if not task_id:
        return None
    result = launcher.celery.AsyncResult(task_id)
    if result.state == "STARTED" and isinstance(result.info, dict):
        return result.info.get("hostname")
    return result.worker if result.state in ("SUCCESS", "FAILURE") else None


def _launch_and_wait(instance, job: str, env: dict[str, str], logs: Path,  # noqa: ANN001
                     deadline: float):  # -> DagsterRun
    """`dagster job launch` of `job` through the daemon; its one run, finished (a run retry
    would show as a second one, and fail here)."""
    import dagster as dg

    subprocess.run([str(BIN / "dagster"), "job", "launch", "-w", "workspace-cluster.yaml",
                    "-j", job], env=env, cwd=ROOT, check=True, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=300)
    while True:
        assert time.time() < deadline, f"{job} did not finish\n" + _logs(logs)
        runs = instance.get_runs(dg.RunsFilter(job_name=job))
        if runs and all(r.status.value in TERMINAL for r in runs):
            assert len(runs) == 1, [(r.run_id, r.status.value) for r in runs]
            return runs[0]
        time.sleep(1)


def _logs(folder: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(folder.glob("*.log")))


def test_two_workers_share_a_backfill_and_a_killed_worker_only_delays(hub_url: str,
                                                                      zoo_catalog) -> None:
    import dagster as dg
    import duckdb

    from fakeimg_assets.integrity.verify import verify
    from fakeimg_assets.lib.leftovers import is_temporary_name
    from fakeimg_assets.lib.paths import sha256_file
    from fakeimg_assets.sampling.worker_client import stop_worker

    root = Path(tempfile.mkdtemp(prefix="fakeimg-cluster-"))  # the "shared filesystem"
    home, dagster_home, logs = root / "home", root / "home" / "dagster", root / "logs"
    logs.mkdir(parents=True)
    procs: list[subprocess.Popen] = []
    mp = pytest.MonkeyPatch()
    try:
        with postgres_server() as pg_url, redis_server() as redis_url:
            env = {**os.environ, "HF_ENDPOINT": hub_url, "HF_TOKEN": "",
                   "FAKEIMG_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
                   "FAKEIMG_POSTGRES_URL": pg_url, "FAKEIMG_CELERY_BROKER": redis_url,
                   "FAKEIMG_CELERY_BACKEND": redis_url[:-1] + "1"}
            for key in ("FAKEIMG_HOME", "DAGSTER_HOME", "FAKEIMG_POSTGRES_URL",
                        "FAKEIMG_CELERY_BROKER", "FAKEIMG_CELERY_BACKEND"):
                mp.setenv(key, env[key])

            def run(cmd: list[str], timeout: float = 900) -> str:
                done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                                      stdin=subprocess.DEVNULL, timeout=timeout)
                assert done.returncode == 0, f"{cmd}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
                return done.stdout

            # the cluster's instance (2 devices in all, monitoring every 2 s), then the head
            # machine crawls and adds the partitions; it samples nothing
            run([sys.executable, "-m", "fakeimg_assets.instance_config", str(dagster_home),
                 "--cluster", "2", "--monitor-every", "2"])
            out = run([str(BIN / "fakeimg"), "run", "--partitions-only", "--images-per-model",
                       str(IMAGES_PER_MODEL), "--steps", "3"])
            assert "partitions to backfill" in out, out

            workers = {}
            for name in ("w1", "w2"):  # two machines: each names its temp files apart
                workers[name] = _start(
                    [str(BIN / "celery"), "-A", "fakeimg_assets.cluster.celery_app", "worker",
                     "-n", f"{name}@%h", "--concurrency", "1", "--prefetch-multiplier", "1",
                     "-Q", "dagster", "--loglevel", "INFO"],
                    {**env, "FAKEIMG_MACHINE": f"node-{name}"}, logs / f"{name}.log")
                procs.append(workers[name])
            daemon = _start([str(BIN / "dagster-daemon"), "run", "-w", "workspace-cluster.yaml"],
                            env, logs / "daemon.log")
            procs.append(daemon)

            with dg.DagsterInstance.get() as instance:
                assert type(instance.run_launcher).__name__ == "WatchedCeleryRunLauncher"
                partitions = sorted(instance.get_dynamic_partitions("hub_models"))
                assert len(partitions) == len(zoo_catalog)
                run([str(BIN / "dagster"), "job", "backfill", "-w", "workspace-cluster.yaml", "-j",
                     "sample_model", "--partitions", ",".join(partitions), "--noprompt"])
                launcher = instance.run_launcher

                def backfill_runs() -> list:
                    return [r for r in instance.get_runs(dg.RunsFilter(job_name="sample_model"))
                            if "dagster/backfill" in r.tags]

                # kill w2 (its whole process group, as a lost machine) once it has finished
                # three partitions and is in the middle of another
                killed: list[str] = []
                t0 = time.time()
                while not killed:
                    assert time.time() - t0 < 900, "w2 never ran two partitions\n" + _logs(logs)
                    runs = backfill_runs()
                    done_w2 = [r for r in runs if r.status.value == "SUCCESS"
                               and (_worker_of(launcher, r) or "").startswith("w2@")]
                    busy_w2 = [r for r in runs if r.status.value == "STARTED"
                               and (_worker_of(launcher, r) or "").startswith("w2@")]
                    if len(done_w2) >= 3 and busy_w2:
                        os.killpg(workers["w2"].pid, signal.SIGKILL)
                        workers["w2"].wait()
                        killed = [r.run_id for r in busy_w2]
                    time.sleep(0.5)

                settled = None  # every partition's latest run succeeded, or all finished and
                while True:  # no retry came for 30 s
                    assert time.time() - t0 < 900, "the backfill did not finish\n" + _logs(logs)
                    latest: dict[str, object] = {}
                    for r in sorted(backfill_runs(), key=lambda r: instance.get_run_record_by_id(
                            r.run_id).create_timestamp):
                        latest[r.tags["dagster/partition"]] = r
                    states = {r.status.value for r in latest.values()}
                    if len(latest) == len(partitions) and states == {"SUCCESS"}:
                        break
                    if len(latest) == len(partitions) and states <= TERMINAL:
                        settled = settled or time.time()
                        if time.time() - settled > 30:
                            break
                    else:
                        settled = None
                    time.sleep(2)

                healthy = {m.model_id for m in zoo_catalog if m.expect in ("ok", "quarantine")
                           and not m.gated}
                broken = {m.model_id for m in zoo_catalog if m.expect == "failure"
                          and not m.gated}
                ok = {p for p, r in latest.items() if r.status.value == "SUCCESS"}
                # refusals by design end the run successfully, with a model_failures row
                assert ok == set(partitions), (
                    killed, {p: (r.run_id, r.status.value) for p, r in latest.items()
                             if p not in ok}, _logs(logs))
                by_worker = {(_worker_of(launcher, r) or "?").split("@")[0]
                             for p, r in latest.items() if p in ok}
                assert {"w1", "w2"} <= by_worker, by_worker
                # the killed run itself was resumed by run monitoring on the surviving worker:
                # the same run, not a retry, finished there
                for run_id in killed:
                    partition = instance.get_run_by_id(run_id).tags["dagster/partition"]
                    assert latest[partition].run_id == run_id, partition
                    messages = [e.message or "" for e in instance.all_logs(run_id)]
                    assert any("did not answer" in m and f"Resuming run {run_id}" in m
                               for m in messages), messages
                    assert (_worker_of(launcher, latest[partition]) or "").startswith("w1@")
                counts = {w: sum((_worker_of(launcher, r) or "").startswith(f"{w}@")
                                 for r in latest.values()) for w in ("w1", "w2")}
                print(f"runs per worker {counts}, killed {killed}, backfill "
                      f"{time.time() - t0:.0f} s")

                # the batch is over: the warehouse is compacted by a run on a worker
                compaction = _launch_and_wait(instance, "compact_warehouse", env, logs,
                                              deadline=t0 + 1200)
                assert compaction.status.value == "SUCCESS", _logs(logs)
                assert _worker_of(launcher, compaction).startswith("w1@")  # w2 is dead
                loose = [f for f in (home / "parquet" / "fake_images").glob("*.parquet")
                         if not f.name.startswith("_")]
                assert loose == [] and (home / "parquet" / "fake_images" / "_compacted").is_dir()

                # the detector chain on a worker too: every step in the worker's process
                train = _launch_and_wait(instance, "train_detector", env, logs,
                                         deadline=t0 + 1800)
                print(f"train_detector {train.status.value}, {time.time() - t0:.0f} s")
                assert train.status.value == "SUCCESS", _logs(logs)

        con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
        rows = con.sql("SELECT source, count(*), count(DISTINCT image_id), count(DISTINCT path) "
                       "FROM images WHERE label = 'fake' GROUP BY source").fetchall()
        assert {m: (n, d, p) for m, n, d, p in rows} == {
            m: (IMAGES_PER_MODEL,) * 3 for m in healthy}  # 0 lost, 0 duplicated
        failed = {r[0] for r in con.sql("SELECT DISTINCT model_id FROM model_failures").fetchall()}
        assert failed == broken  # the hostile and broken repos refused, as on one machine
        for path, sha in con.sql("SELECT path, sha256 FROM images").fetchall():
            assert sha256_file(home / path) == sha
        # each worker runs 1 run at once (--concurrency 1): its runs take every core of
        # their machine, not cores / the cluster-wide max_concurrent_runs (2)
        threads = con.sql("SELECT DISTINCT torch_threads FROM images WHERE label = 'fake'")
        assert threads.fetchall() == [(os.cpu_count(),)]
        con.close()
        # w2's pids mean nothing on w1, yet the killed run's staging was taken by its resume
        # there, under the partition lock; the head's verify finds nothing wrong
        assert not [p for p in (home / "images").rglob("*") if is_temporary_name(p.name)]
        report = verify(home)
        assert report.ok, report.lines()
    finally:
        for proc in procs:
            _stop(proc)
        stop_worker(home)
        mp.undo()
        if sys.exc_info()[0] is None:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"the cluster's home and logs are kept in {root}")
