"""Sampling recipes for UNet, cascade and pixel-space text-to-image pipelines beyond SD1/SDXL.

Registered into `recipes`' registry when `recipes` is imported (see its last lines).
"""

from __future__ import annotations
