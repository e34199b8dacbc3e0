"""Failures are data: each failed attempt of a per-model asset becomes a `model_failures` row."""


from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg

from fakeimg_assets.paths import model_slug
from fakeimg_assets.warehouse.store import utcnow
from resources.warehouse import WarehouseResource


@dataclass
class Stage:
    """The stage a partition is in, so a failure says where it happened."""

    name: str = "start"


@contextmanager
def record_failures(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    model_id: str,
    asset: str,
) -> Iterator[Stage]:
    """Run a block; on error write a failure row, then fail the step with a clear message."""
    stage = Stage()
    try:
        yield stage
    except Exception as exc:
        stage_name = getattr(exc, "stage", None) or stage.name
        message = str(exc) or type(exc).__name__
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
                        "failed_at": failed_at,
                        "dagster_run_id": context.run.run_id,
                    }
                ],
            )
        except Exception as write_exc:  # noqa: BLE001 - never hide the original failure
            context.log.error(f"could not record failure of {model_id}: {write_exc}")
        raise dg.Failure(
            description=f"{asset} failed for {model_id} at stage '{stage_name}': {message}",
            metadata={
                "model_id": model_id,
                "stage": stage_name,
                "error_type": type(exc).__name__,
            },
            allow_retries=False,
        ) from exc
