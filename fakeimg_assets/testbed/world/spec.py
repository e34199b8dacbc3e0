"""What a world is: its generators, their lineage, photo subsets and seeds.

A world is a pure function of its `WorldSpec`: fixed seeds give byte-identical weights, so
the same command builds the same world. The family registry fails loudly on unknown names,
as the platform's other registries do. No torch here, so specs are cheap to list and test.

A family module (`Family.module`) provides, with torch imported inside its functions:
- `family_parts(family, world_seed, image_size, *, vae_steps) -> parts` (shared by every
  generator of the family: trained autoencoder, frozen text encoder(s), tokenizer(s));
  `parts.vae_loss` is a float (nan for pixel space);
- `train_denoiser(spec, parts, image_size, *, steps, init_state) -> (denoiser, losses)`,
  continuing from a base's `state_dict` when `init_state` is given;
- `assemble(spec, parts, denoiser) -> DiffusionPipeline` (what is saved and served);
- `random_twin(spec, world_seed, image_size) -> DiffusionPipeline` (nothing trained).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fakeimg_assets.testbed.world.photos import COLOUR_PHOTOS


@dataclass(frozen=True)
class Family:
    """A trainable family: its module, the zoo architecture it is served as (pipeline class,
    card tags), the prediction its bases use and the schedulers its fine-tunes may ship."""

    module: str
    arch: str
    prediction_type: str
    schedulers: tuple[str, ...]


_EPS = ("DDIMScheduler", "EulerDiscreteScheduler", "DPMSolverMultistepScheduler")
_FLOW = ("FlowMatchEulerDiscreteScheduler",)
FAMILIES: dict[str, Family] = {
    "sd1": Family("fakeimg_assets.testbed.world.sd1", "sd1", "epsilon", _EPS),  # SD1.x: UNet, eps
    "sd2": Family("fakeimg_assets.testbed.world.sd1", "sd1", "v_prediction", _EPS),  # SD2.x: v-pred
    "sdxl": Family("fakeimg_assets.testbed.world.sdxl", "sdxl", "epsilon", _EPS),
    "pixart": Family("fakeimg_assets.testbed.world.pixart", "pixart", "epsilon", _EPS),  # DiT
    "sd3": Family("fakeimg_assets.testbed.world.sd3", "sd3", "flow", _FLOW),  # flow-matching MMDiT
}
WORLD_ORG = "world"
DEFAULT_STEPS = 200  # denoiser optimizer steps for a base model
DEFAULT_VAE_STEPS = 150  # autoencoder steps, once per family
IMAGE_SIZE = 32


def get_family(name: str) -> Family:
    """The registered family; unknown names fail listing the known ones."""
    if name not in FAMILIES:
        raise KeyError(f"unknown generator family {name!r}; known: {sorted(FAMILIES)}")
    return FAMILIES[name]


def family_module(name: str) -> str:
    """The module implementing a family (see the module docstring for its interface)."""
    return get_family(name).module


@dataclass(frozen=True)
class GeneratorSpec:
    """One generator: a base trained from scratch, or a fine-tune continuing its `base`.

    `scheduler` and `prediction_type` left empty take the family's first scheduler and its
    prediction type; a scheduler the family's recipe would refuse is refused here.
    """

    model_id: str  # "world/<name>", the repo id it is served under
    family: str
    seed: int
    photos: tuple[str, ...]  # generator-pool photos it trains on (see world/photos.py)
    base: str | None = None  # model_id of the base it fine-tunes (declared as base_model)
    scheduler: str = ""  # inference scheduler shipped in the repo
    prediction_type: str = ""
    created_at: str = "2025-01-01T00:00:00.000Z"

    def __post_init__(self) -> None:
        fam = get_family(self.family)
        if not self.scheduler:
            object.__setattr__(self, "scheduler", fam.schedulers[0])
        if not self.prediction_type:
            object.__setattr__(self, "prediction_type", fam.prediction_type)
        if self.scheduler not in fam.schedulers:
            raise ValueError(
                f"{self.model_id}: scheduler {self.scheduler!r} is not one of family "
                f"{self.family!r}'s {fam.schedulers}"
            )
        if not self.photos or any(p not in COLOUR_PHOTOS for p in self.photos):
            raise ValueError(f"{self.model_id}: photos must be from {COLOUR_PHOTOS}")

    @property
    def arch(self) -> str:
        """The zoo architecture it is served as (pipeline class and card tags)."""
        return get_family(self.family).arch


@dataclass(frozen=True)
class WorldSpec:
    """The whole world; `generators` are ordered so every base precedes its fine-tunes."""

    seed: int = 0
    image_size: int = IMAGE_SIZE
    generators: tuple[GeneratorSpec, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        seen: dict[str, GeneratorSpec] = {}
        for g in self.generators:
            if g.model_id in seen:
                raise ValueError(f"duplicate generator {g.model_id}")
            if g.base is not None and g.base not in seen:
                raise ValueError(f"{g.model_id}: base {g.base} must come earlier in the world")
            if g.base is not None and seen[g.base].family != g.family:
                raise ValueError(f"{g.model_id}: a fine-tune must keep its base's family")
            seen[g.model_id] = g

    @property
    def families(self) -> list[str]:
        return sorted({g.family for g in self.generators})


def default_world(
    n_generators: int = 25, *, seed: int = 0, families: tuple[str, ...] = tuple(FAMILIES)
) -> WorldSpec:
    """Generators dealt round-robin over `families`; within a family the pattern is base,
    fine-tune, fine-tune, base, ... (so 25 over 5 families gives 2 bases + 3 fine-tunes each).

    A base trains on 4 photos of the pool, rotating; its fine-tunes continue on another
    (overlapping) 3-photo subset with their own seed and the family's next scheduler, as Hub
    fine-tunes do. Generator i is the same in every larger world (a world grows as a prefix).
    """
    if n_generators < 1:
        raise ValueError("a world needs at least one generator")
    if not families:
        raise ValueError("a world needs at least one family")
    for f in families:
        get_family(f)
    pool = COLOUR_PHOTOS
    gens: list[GeneratorSpec] = []
    bases: dict[str, GeneratorSpec] = {}
    counts: dict[tuple[str, str], int] = {}
    for i in range(n_generators):
        family = families[i % len(families)]
        j = i // len(families)  # index within the family
        fam_offset = families.index(family)
        if j % 3 == 0:
            n = counts.get((family, "base"), 0)
            start = (n * 3 + fam_offset) % len(pool)
            photos = tuple(pool[(start + k) % len(pool)] for k in range(4))
            base = GeneratorSpec(
                f"{WORLD_ORG}/{family}-base-{n}", family, seed * 1000 + i, photos,
                created_at=f"2025-{1 + (i // 3) % 12:02d}-01T00:00:00.000Z",
            )
            bases[family] = base
            gens.append(base)
            counts[(family, "base")] = n + 1
        else:
            base = bases[family]
            n = counts.get((family, "ft"), 0)
            start = (pool.index(base.photos[0]) + 2 + j % 3) % len(pool)
            photos = tuple(pool[(start + k) % len(pool)] for k in range(3))
            scheds = get_family(family).schedulers
            gens.append(GeneratorSpec(
                f"{WORLD_ORG}/{family}-finetune-{n}", family, seed * 1000 + i, photos,
                base=base.model_id, scheduler=scheds[(n + 1) % len(scheds)],
                created_at=f"2025-{1 + (i // 3) % 12:02d}-{10 + i % 18:02d}T00:00:00.000Z",
            ))  # fmt: skip
            counts[(family, "ft")] = n + 1
    return WorldSpec(seed=seed, generators=tuple(gens))
