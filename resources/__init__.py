"""Dagster resources of fakeimg: Hub, warehouse, image store, compute."""

from resources.compute import ComputeResource
from resources.hub import HubResource
from resources.images import ImageStoreResource
from resources.warehouse import WarehouseResource

__all__ = ["ComputeResource", "HubResource", "ImageStoreResource", "WarehouseResource"]
