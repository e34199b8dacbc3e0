"""Dagster sensors of fakeimg."""

from sensors.hub_sensors import new_hub_models

__all__ = ["new_hub_models"]
