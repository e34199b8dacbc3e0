"""Generated image tensors in [-1, 1] as the uint8 pixels a collection stores.

Shared by the generators outside the platform's pipelines (`gan`, `pixel_diffusion`): both
end in a (n, 3, H, W) float tensor in [-1, 1], and both must round it to pixels the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_uint8(images: Any) -> np.ndarray:
    """(n, 3, H, W) float tensor in [-1, 1] -> (n, H, W, 3) uint8 (clipped, then rounded)."""
    x = images.detach().float().clamp(-1.0, 1.0).add(1.0).mul(127.5).round()
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy().astype(np.uint8))


def check_image_size(image_size: int, *, smallest: int = 8, largest: int = 256) -> int:
    """A power of two in [smallest, largest] (the generators halve and double it); anything
    else fails naming the value and the rule."""
    if (
        isinstance(image_size, bool) or not isinstance(image_size, int)
        or not smallest <= image_size <= largest or image_size & (image_size - 1)
    ):
        raise ValueError(
            f"image size {image_size!r} must be a power of two from {smallest} to {largest}"
        )
    return image_size
