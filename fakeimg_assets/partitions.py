"""The dynamic partitions of per-model assets: one key per Hub model id (`org/name`).

Imported by both the assets and the sensor that adds keys, so the two cannot drift.
"""

from dagster import DynamicPartitionsDefinition

HUB_MODELS_PARTITIONS_NAME = "hub_models"

hub_models_partitions = DynamicPartitionsDefinition(name=HUB_MODELS_PARTITIONS_NAME)
