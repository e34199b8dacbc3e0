"""dagster-celery's `CeleryRunLauncher` with a worker-liveness check.

The shipped launcher reports a run's health from its Celery task state alone. A worker that is
killed (OOM, a lost machine, SIGKILL) never updates that state: the task stays STARTED, so the
run looks alive forever and its partition never finishes. Here a STARTED task is healthy only
while the worker that holds it answers a Celery ping; when it stops answering, run monitoring
(`run_monitoring` in dagster.yaml) resumes the run on another worker (`max_resume_run_attempts`),
and run retries start it afresh after that. A task still waiting in the broker's queue (PENDING,
e.g. a resumed run while every worker is busy) is reported running, not failed: failing it would
resume the run again and queue a second copy.

Before a run is sent to the workers, the pools its steps claim exist (`initialize_pools`).
Dagster creates a pool's row when the first step claims it, with an INSERT that falls back to
an UPDATE on a duplicate key. On Postgres the duplicate key aborts the transaction, so the
UPDATE fails too: two workers whose first steps claim a new pool at once lost one run
(`InFailedSqlTransaction`, seen in the distributed test; dagster-io/dagster#33552, open). The
daemon launches runs one at a time, so it creates them without a race.

`resume_run` is rewritten too: dagster-celery 0.29.27 passes the resume task its arguments
under the run task's keyword (`execute_job_args_packed`), which the resume task refuses
(`TypeError: _resume_job() got an unexpected keyword argument`), so no run was ever resumed.
"""

from __future__ import annotations

import threading

from dagster import _check as check
from dagster._core.events import EngineEventData
from dagster._core.launcher import (
    CheckRunHealthResult,
    LaunchRunContext,
    ResumeRunContext,
    WorkerStatus,
)
from dagster._grpc.types import ResumeRunArgs
from dagster._serdes import pack_value
from dagster_celery.config import TASK_RESUME_JOB_NAME
from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG, DAGSTER_CELERY_TASK_ID_TAG
from dagster_celery.tasks import create_resume_job_task

PING_TRIES = 3
PING_TIMEOUT_S = 2.0


_POOLS_LOCK = threading.Lock()  # a daemon that launches from threads creates each pool once


class WatchedCeleryRunLauncher(CeleryRunLauncher):
    """Runs as Celery tasks; a run whose worker stopped answering is reported failed."""

    def launch_run(self, context: LaunchRunContext) -> None:
        self.initialize_pools(context.dagster_run)
        super().launch_run(context)

    def initialize_pools(self, run) -> list[str]:  # noqa: ANN001 - DagsterRun
        """Create the missing pools that `run`'s steps claim, at the instance's default
        limit (as Dagster would at the first claim); returns the pools created."""
        instance = self._instance
        if not run.execution_plan_snapshot_id or instance.global_op_concurrency_default_limit is None:
            return []
        plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        pools = {step.pool for step in plan.steps if step.pool}
        storage = instance.event_log_storage
        with _POOLS_LOCK:
            missing = sorted(pools - {limit.name for limit in storage.get_pool_limits()})
            for pool in missing:
                storage.initialize_concurrency_limit_to_default(pool)
        return missing

    def worker_answers(self, hostname: str) -> bool:
        """Whether the Celery worker `hostname` answers a ping (up to PING_TRIES tries: a
        worker busy with a run still answers, its pool process runs the run)."""
        for _ in range(PING_TRIES):
            replies = self.celery.control.ping(destination=[hostname], timeout=PING_TIMEOUT_S)
            if any(hostname in reply for reply in replies or []):
                return True
        return False

    def resume_run(self, context: ResumeRunContext) -> None:
        """A Celery task that resumes `context.dagster_run` on whichever worker is free."""
        run = context.dagster_run
        args = ResumeRunArgs(job_origin=check.not_none(run.job_code_origin), run_id=run.run_id,
                             instance_ref=self._instance.get_ref(),
                             set_exit_code_on_failure=True)
        queue = run.tags.get(DAGSTER_CELERY_QUEUE_TAG, self.default_queue)
        task = create_resume_job_task(self.celery).si(resume_job_args_packed=pack_value(args))
        result = task.apply_async(queue=queue, routing_key=f"{queue}.{TASK_RESUME_JOB_NAME}")
        self._instance.add_run_tags(run.run_id, {DAGSTER_CELERY_TASK_ID_TAG: result.task_id})
        self._instance.report_engine_event(
            "Celery task to resume the run has been forwarded to the broker.", run,
            EngineEventData({"Run ID": run.run_id, "Celery Task ID": result.task_id,
                             "Celery Queue": queue}),
            cls=self.__class__,
        )

    def check_run_worker_health(self, run) -> CheckRunHealthResult:  # noqa: ANN001 - DagsterRun
        task_id = run.tags.get(DAGSTER_CELERY_TASK_ID_TAG)
        if not task_id:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run has no Celery task yet")
        result = self.celery.AsyncResult(task_id)
        state = result.state
        if state == "SUCCESS":
            return CheckRunHealthResult(WorkerStatus.SUCCESS)
        if state in ("FAILURE", "REVOKED"):
            return CheckRunHealthResult(WorkerStatus.FAILED, f"Celery task {task_id} {state}")
        if state == "PENDING":  # queued for a free worker (or unknown to the backend)
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        if state == "STARTED":
            info = result.info if isinstance(result.info, dict) else {}
            hostname = info.get("hostname")
            if isinstance(hostname, str) and hostname and not self.worker_answers(hostname):
                return CheckRunHealthResult(
                    WorkerStatus.FAILED,
                    f"Celery worker {hostname} (pid {info.get('pid')}) holding task {task_id} "
                    f"did not answer {PING_TRIES} pings",
                )
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"Celery task state {state}")
