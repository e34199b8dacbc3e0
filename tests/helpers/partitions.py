"""Materializing one model partition's assets on `instance_for_test`, at small sizes."""

from __future__ import annotations

import dagster as dg

from fakeimg_assets.real.assets import prompts, real_photos

SMALL_REAL = {"ops": {"real_photos": {"config": {"min_side": 64}}}}
SMALL_SAMPLING = {"ops": {"sampled_images": {"config": {"images_per_model": 3, "steps": 2}}}}


def prepare_partition(instance: dg.DagsterInstance, resources: dict, model_id: str) -> None:
    """Register the partition and materialize what every model partition reads: the real
    photos and the prompt pool."""
    instance.add_dynamic_partitions("hub_models", [model_id])
    assert dg.materialize(
        [real_photos, prompts], resources=resources, instance=instance, run_config=SMALL_REAL
    ).success


def run_partition(
    asset: dg.AssetsDefinition, instance, resources, model_id, **kw
) -> dg.ExecuteInProcessResult:
    """One asset for one model partition; failures are returned, not raised."""
    return dg.materialize(
        [asset], partition_key=model_id, resources=resources, instance=instance,
        raise_on_error=False, **kw,
    )
