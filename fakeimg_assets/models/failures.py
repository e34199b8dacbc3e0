"""Failures are data: each failed attempt of a per-model asset becomes a `model_failures` row.

A transient failure (429, 5xx, timeout, truncated transfer) asks Dagster to retry the step
(`RetryRequested`, honoured by the in-process executor too). A refusal (the platform's own
permanent error: hostile repo, missing base, over a limit; `refusals.is_refusal`) is an
outcome, not a failure: the row is written with `refused` = true, the block's exception is
swallowed and `Stage.refusal` holds the reason, so the asset materializes as refused
(`refusals.py`). Any other permanent error (a bug, bad input) fails the step with
`Failure(allow_retries=False)`, which no RetryPolicy or run retry can override. The row's
`transient` flag lets the sensor re-request later.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg

from fakeimg_assets.lib.paths import model_slug
from fakeimg_assets.lib.retry import is_transient, retry_after_seconds
from fakeimg_assets.lib.times import utcnow
from fakeimg_assets.models.refusals import is_refusal, refusal_reason
from resources.warehouse import WarehouseResource

STEP_RETRIES = 2  # step retries per run for transient errors; the sensor re-requests after
STEP_RETRY_BASE_S = 5.0
STEP_RETRY_CAP_S = 60.0


@dataclass
class Stage:
    """The stage a partition is in, so a failure says where it happened; `refusal` is set
    (to the one-line reason) when the block ended in a refusal instead of raising."""

    name: str = "start"
    refusal: str | None = None


def step_retry_wait(retry_number: int, exc: BaseException) -> float:
    """Seconds before Dagster re-runs the step: Retry-After if given, else 5 s, 10 s, ... 60 s."""
    asked = retry_after_seconds(exc)
    if asked is not None:
        return min(asked, STEP_RETRY_CAP_S)
    return min(STEP_RETRY_CAP_S, STEP_RETRY_BASE_S * 2**retry_number)


@contextmanager
def record_failures(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    model_id: str,
    asset: str,
    *,
    max_step_retries: int = STEP_RETRIES,
) -> Iterator[Stage]:
    """Run a block; on error write a failure row, then retry (transient), record a refusal
    (`stage.refusal`, the exception swallowed: check it right after the block) or fail."""
    stage = Stage()
    try:
        yield stage
    except dg.RetryRequested:
        raise  # the block asked for a retry itself: Dagster handles it as is
    except Exception as exc:
        stage_name = getattr(exc, "stage", None) or stage.name
        message = str(exc) or type(exc).__name__
        transient = is_transient(exc)
        refused = not transient and is_refusal(exc)
        failed_at = utcnow()
        try:
            warehouse.write(
                "model_failures",
                f"{model_slug(model_id)}--{asset}--{failed_at:%Y%m%dT%H%M%S%f}",
                [
                    {
                        "model_id": model_id,
                        "asset": asset,
                        "stage": stage_name,
                        "error_type": type(exc).__name__,
                        "message": message[:4000],
                        "transient": transient,
                        "refused": refused,
                        "failed_at": failed_at,
                        "dagster_run_id": context.run.run_id,
                    }
                ],
            )
        except Exception as write_exc:  # noqa: BLE001 - never hide the original failure
            context.log.error(f"could not record failure of {model_id}: {write_exc}")
        if refused:
            stage.refusal = refusal_reason(asset, stage_name, exc)
            context.log.info(f"{model_id}: {stage.refusal}")
            return
        if transient:
            wait = step_retry_wait(context.retry_number, exc)
            context.log.warning(
                f"{asset} for {model_id}: transient {type(exc).__name__} at stage "
                f"'{stage_name}' (attempt {context.retry_number + 1} of "
                f"{max_step_retries + 1}), retrying in {wait:.0f}s: {message}"
            )
            raise dg.RetryRequested(max_retries=max_step_retries, seconds_to_wait=wait) from exc
        raise dg.Failure(
            description=f"{asset} failed for {model_id} at stage '{stage_name}': {message}",
            metadata={
                "model_id": model_id,
                "stage": stage_name,
                "error_type": type(exc).__name__,
                "transient": False,
            },
            allow_retries=False,
        ) from exc
