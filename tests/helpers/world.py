"""The small trained world every world test shares (fixture `small_world` in conftest.py).

One base and one fine-tune per family the world tests need, trained at reduced steps:
enough for each base to beat its random twin, minutes rather than the science run's hours.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fakeimg_assets.testbed.world.build import BuiltGenerator
from fakeimg_assets.testbed.world.spec import GeneratorSpec, WorldSpec, default_world

FAMILIES = ("sd1", "sd3", "sdxl", "pixart")
STEPS, VAE_STEPS = 40, 40  # reduced: enough to beat a random twin


def small_world_spec() -> WorldSpec:
    """Two generators per family (`world/<family>-base-0`, `world/<family>-finetune-0`)."""
    return default_world(2 * len(FAMILIES), families=FAMILIES)


@dataclass(frozen=True)
class SmallWorld:
    """A built world: where it lies, its spec, what each generator's build reported."""

    root: Path
    spec: WorldSpec
    built: tuple[BuiltGenerator, ...]  # in spec order
    seconds: float

    def generator(self, model_id: str) -> GeneratorSpec:
        return next(g for g in self.spec.generators if g.model_id == model_id)

    def report(self, model_id: str) -> BuiltGenerator:
        return next(b for b in self.built if b.model_id == model_id)

    def family(self, family: str) -> list[BuiltGenerator]:
        """The family's generators as built, in spec order (its base first)."""
        ids = {g.model_id for g in self.spec.generators if g.family == family}
        return [b for b in self.built if b.model_id in ids]


def weight_hashes(root: Path) -> dict[str, str]:
    """sha256 of every safetensors file under a built world, by path relative to it."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.safetensors"))
    }
