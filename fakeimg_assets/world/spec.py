"""What a world is: its generators, their lineage, photo subsets and seeds.

A world is a pure function of its `WorldSpec`: fixed seeds give byte-identical weights, so
the same command builds the same world. The family registry fails loudly on unknown names,
as the platform's other registries do. No torch here, so specs are cheap to list and test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fakeimg_assets.world.photos import COLOUR_PHOTOS

# Families that can be trained; each maps to a module with `train_vae` / `train_generator`.
FAMILIES: dict[str, str] = {"sd1": "fakeimg_assets.world.sd1"}
WORLD_ORG = "world"
DEFAULT_STEPS = 300  # denoiser optimizer steps for a base model
DEFAULT_VAE_STEPS = 300  # autoencoder steps, once per family
IMAGE_SIZE = 32


def family_module(name: str) -> str:
    """The module implementing a family; unknown names fail listing the known ones."""
    if name not in FAMILIES:
        raise KeyError(f"unknown generator family {name!r}; known: {sorted(FAMILIES)}")
    return FAMILIES[name]


@dataclass(frozen=True)
class GeneratorSpec:
    """One generator: a base trained from scratch, or a fine-tune continuing its `base`."""

    model_id: str  # "world/<name>", the repo id it is served under
    family: str
    seed: int
    photos: tuple[str, ...]  # generator-pool photos it trains on (see world/photos.py)
    base: str | None = None  # model_id of the base it fine-tunes (declared as base_model)
    scheduler: str = "DDIMScheduler"  # inference scheduler shipped in the repo
    prediction_type: str = "epsilon"
    created_at: str = "2025-01-01T00:00:00.000Z"

    def __post_init__(self) -> None:
        family_module(self.family)
        if not self.photos or any(p not in COLOUR_PHOTOS for p in self.photos):
            raise ValueError(f"{self.model_id}: photos must be from {COLOUR_PHOTOS}")


@dataclass(frozen=True)
class WorldSpec:
    """The whole world; `generators` are ordered so every base precedes its fine-tunes."""

    seed: int = 0
    image_size: int = IMAGE_SIZE
    generators: tuple[GeneratorSpec, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for g in self.generators:
            if g.model_id in seen:
                raise ValueError(f"duplicate generator {g.model_id}")
            if g.base is not None and g.base not in seen:
                raise ValueError(f"{g.model_id}: base {g.base} must come earlier in the world")
            seen.add(g.model_id)

    @property
    def families(self) -> list[str]:
        return sorted({g.family for g in self.generators})


_FT_SCHEDULERS = ("EulerDiscreteScheduler", "DPMSolverMultistepScheduler", "DDIMScheduler")


def default_world(n_generators: int = 6, *, seed: int = 0, family: str = "sd1") -> WorldSpec:
    """Bases and community fine-tunes in a fixed pattern: base, fine-tune, fine-tune, base...

    A base trains on a rotating half of the photo pool; its fine-tunes continue on another
    (overlapping) subset with their own seed and scheduler, as Hub fine-tunes do.
    """
    if n_generators < 1:
        raise ValueError("a world needs at least one generator")
    pool = COLOUR_PHOTOS
    gens: list[GeneratorSpec] = []
    base: GeneratorSpec | None = None
    n_base = n_ft = 0
    for i in range(n_generators):
        if i % 3 == 0:
            start = (n_base * 3) % len(pool)
            photos = tuple(pool[(start + j) % len(pool)] for j in range(4))
            base = GeneratorSpec(
                f"{WORLD_ORG}/{family}-base-{n_base}", family, seed * 1000 + i, photos,
                created_at=f"2025-{1 + n_base % 12:02d}-01T00:00:00.000Z",
            )
            gens.append(base)
            n_base += 1
        else:
            assert base is not None
            start = (pool.index(base.photos[0]) + 2 + (i % 3)) % len(pool)
            photos = tuple(pool[(start + j) % len(pool)] for j in range(3))
            gens.append(GeneratorSpec(
                f"{WORLD_ORG}/{family}-finetune-{n_ft}", family, seed * 1000 + i, photos,
                base=base.model_id, scheduler=_FT_SCHEDULERS[n_ft % len(_FT_SCHEDULERS)],
                created_at=f"2025-{1 + n_base % 12:02d}-{10 + i % 18:02d}T00:00:00.000Z",
            ))
            n_ft += 1
    return WorldSpec(seed=seed, generators=tuple(gens))
