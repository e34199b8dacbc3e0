"""Downstream, unpartitioned detector assets, one module each; imported here for the definitions."""

from fakeimg_assets.detection.dataset_asset import DatasetConfig, detector_dataset
from fakeimg_assets.detection.detector_asset import DetectorConfig, detector
from fakeimg_assets.detection.evaluation_asset import detector_evaluation, evaluation_rows
from fakeimg_assets.detection.scaling_asset import ScalingConfig, scaling_study

__all__ = [
    "DatasetConfig",
    "DetectorConfig",
    "ScalingConfig",
    "detector",
    "detector_dataset",
    "detector_evaluation",
    "evaluation_rows",
    "scaling_study",
]
