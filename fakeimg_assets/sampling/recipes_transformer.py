"""Sampling recipes for transformer (DiT / MMDiT) text-to-image pipelines beyond SD3 and PixArt.

Registered into `recipes`' registry when `recipes` is imported (see its last lines).
"""

from __future__ import annotations
