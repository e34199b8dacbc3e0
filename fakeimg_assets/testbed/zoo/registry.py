"""The registry of pipeline builders: zoo architecture -> function building its pipeline.

As timm's `_registry.py`: each family module (`arch_*.py`) registers its builders with
`@register("arch")` when it is imported, and imports this module, never the reverse; the
package `__init__` imports every family, so the registry is full whenever any zoo module
is in use. `build_pipeline` builds a catalogued model in memory (before any file-level
damage), e.g. for the repo writer, the adapters, `verify` or a test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fakeimg_assets.testbed.zoo.models import BLACK_VAE, ZooModel, built_architecture

Builder = Callable[[ZooModel, int], Any]  # (model, seed) -> diffusers pipeline

BUILDERS: dict[str, Builder] = {}


def register(*architectures: str) -> Callable[[Builder], Builder]:
    """Decorator: `fn` builds the pipelines of these architectures; a name is taken once."""

    def add(fn: Builder) -> Builder:
        taken = [arch for arch in architectures if arch in BUILDERS]
        if taken:  # checked before adding any: a refused registration changes nothing
            raise ValueError(f"zoo architecture(s) {taken} registered twice ({fn.__name__})")
        BUILDERS.update(dict.fromkeys(architectures, fn))
        return fn

    return add


def builder(arch: str) -> Builder:
    """The registered builder of `arch`; an unknown name fails listing the known ones."""
    if arch not in BUILDERS:
        raise KeyError(f"no zoo builder for architecture {arch!r}; known: {sorted(BUILDERS)}")
    return BUILDERS[arch]


def build_pipeline(model: ZooModel) -> Any:
    """The in-memory random-weight pipeline behind `model` (before any file-level damage)."""
    kind, arch = built_architecture(model)
    pipe = builder(arch)(model, model.seed)
    if kind == BLACK_VAE:
        _blacken_vae(pipe.vae)
    return pipe


def _blacken_vae(vae: Any) -> None:
    """Decoder output pinned to -10 before clamping: every image is pure black."""
    import torch

    with torch.no_grad():
        vae.decoder.conv_out.weight.zero_()
        vae.decoder.conv_out.bias.fill_(-10.0)
