"""Generators the platform cannot run as pipelines (a DCGAN, a pixel-space DDPM), trained in
the miniature world and published as an image collection for `fakeimg collection add`.

Like the Hub's latent families they learn from the world's photo pool (left halves, seeded
crops), so a detector cannot tell them from the reals by content; what differs is how they
make pixels, which is what Community Forensics' family groups ('gan', 'pixel_diffusion')
are about. `build_outside_collection` trains each `OutsideGeneratorSpec`, samples its images
as PNG (the platform's encoder) and writes the collection folder (`collection_folder.py`):
no `real/` folder, since the world's reals are its photo dataset.

The build record `.outside-build.json` (a dot-file, so the collection reader skips it) holds
the cache key, every file's sha256 and what each generator cost and scored; a build with the
same key and intact files is reused, anything else is rebuilt in a staging folder and
swapped in whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fakeimg_assets.quality.stats import image_measures, model_aggregate
from fakeimg_assets.testbed.collection_folder import (
    check_replaceable,
    check_rows,
    collection_path,
    folder_files,
    generator_name_problem,
    replace_folder,
    staging_folder,
    write_generators_csv,
    write_images,
)
from fakeimg_assets.testbed.world.checks import (
    check_not_diverged,
    distinct_fraction,
    high_freq_energy,
)
from fakeimg_assets.testbed.world.image_tensors import check_image_size
from fakeimg_assets.testbed.world.photos import COLOUR_PHOTOS, generator_region
from fakeimg_assets.testbed.world.spec import IMAGE_SIZE


@dataclass(frozen=True)
class OutsideKind:
    """A kind of outside generator: its module (`train_generator`, `sample_images`,
    `PRIMARY_LOSS`), the collection metadata it is published with, its default steps."""

    module: str
    family: str  # a family group (lib/family_groups.py)
    architecture: str
    default_steps: int


KINDS: dict[str, OutsideKind] = {
    "gan": OutsideKind("fakeimg_assets.testbed.world.gan", "gan", "dcgan", 500),
    "pixel_diffusion": OutsideKind(
        "fakeimg_assets.testbed.world.pixel_diffusion", "pixel_diffusion", "ddpm-unet", 500
    ),
}
DEFAULT_IMAGES = 240  # images per generator
DEFAULT_THREADS = 2  # torch threads: part of what makes the bytes reproducible
MAX_IMAGES = 20_000  # per generator: a bigger request is a typo, not a collection
QUALITY_SAMPLE = 240  # images the distinct/divergence checks look at (quadratic cost)
BUILD_RECORD = ".outside-build.json"
BUILD_FORMAT = 1
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# modules the images depend on (besides torch and diffusers): their source is in the key
_SOURCES = (
    "fakeimg_assets.testbed.world.outside", "fakeimg_assets.testbed.world.gan",
    "fakeimg_assets.testbed.world.pixel_diffusion", "fakeimg_assets.testbed.world.image_tensors",
    "fakeimg_assets.testbed.world.photos", "fakeimg_assets.testbed.world.train",
    "fakeimg_assets.testbed.zoo.components", "fakeimg_assets.testbed.collection_folder",
    "fakeimg_assets.lib.png",
)


def get_kind(kind: str) -> OutsideKind:
    """The registered kind; anything else fails naming the valid kinds."""
    if kind not in KINDS:
        raise ValueError(f"unknown outside generator kind {kind!r}; valid kinds: "
                         f"{', '.join(sorted(KINDS))}")  # fmt: skip
    return KINDS[kind]


@dataclass(frozen=True)
class OutsideGeneratorSpec:
    """One outside generator; every field is checked, since the name becomes a folder."""

    generator: str  # sub-folder and `generator` column: Hub name rules, not 'real'
    kind: str  # a key of KINDS
    seed: int
    photos: tuple[str, ...]  # generator-pool photos it trains on (world/photos.py)
    steps: int
    release_date: str  # 'YYYY-MM-DD'
    license: str = "mit"

    def __post_init__(self) -> None:
        problem = generator_name_problem(self.generator)
        if problem:
            raise ValueError(f"invalid outside generator name {self.generator!r}: {problem}")
        get_kind(self.kind)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"{self.generator}: seed must be an int >= 0, got {self.seed!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"{self.generator}: steps must be an int >= 1, got {self.steps!r}")
        photos = tuple(self.photos) if isinstance(self.photos, list | tuple) else None
        if not photos or any(p not in COLOUR_PHOTOS for p in photos):
            raise ValueError(f"{self.generator}: photos must be a non-empty subset of "
                             f"{COLOUR_PHOTOS}, got {self.photos!r}")  # fmt: skip
        object.__setattr__(self, "photos", photos)
        if not isinstance(self.release_date, str) or not _DATE.fullmatch(self.release_date):
            raise ValueError(f"{self.generator}: release_date must be 'YYYY-MM-DD', "
                             f"got {self.release_date!r}")  # fmt: skip
        try:
            dt.date.fromisoformat(self.release_date)
        except ValueError as exc:
            raise ValueError(f"{self.generator}: release_date {self.release_date!r}: "
                             f"{exc}") from None  # fmt: skip
        if not isinstance(self.license, str) or not re.fullmatch(r"[a-z0-9][a-z0-9.\-]*",
                                                                 self.license):
            raise ValueError(f"{self.generator}: license must be a lower-case licence id "
                             f"such as 'mit', got {self.license!r}")  # fmt: skip

    @property
    def family(self) -> str:
        return get_kind(self.kind).family

    @property
    def architecture(self) -> str:
        return get_kind(self.kind).architecture

    def csv_row(self) -> dict[str, str]:
        """Its `generators.csv` row."""
        return {"generator": self.generator, "family": self.family,
                "architecture": self.architecture, "release_date": self.release_date,
                "license": self.license}  # fmt: skip


def default_outside(
    world_seed: int = 0, n_per_kind: int = 2, *, steps: dict[str, int] | None = None
) -> tuple[OutsideGeneratorSpec, ...]:
    """`n_per_kind` generators of each kind: `dcgan-<i>` and `pixel-ddpm-<i>`, each on 4
    photos of the pool, rotating by 3 (so neighbours overlap by one photo and the two kinds
    by two), seeded from the world seed apart from the world's own generators' seeds
    (`world_seed * 1000 + i`, i < 500). GANs are dated 2018-19, pixel DDPMs 2021-22."""
    if isinstance(n_per_kind, bool) or not isinstance(n_per_kind, int) or n_per_kind < 1:
        raise ValueError(f"n_per_kind must be an int >= 1, got {n_per_kind!r}")
    if isinstance(world_seed, bool) or not isinstance(world_seed, int) or world_seed < 0:
        raise ValueError(f"world_seed must be an int >= 0, got {world_seed!r}")
    steps = dict(steps or {})
    for kind in steps:
        get_kind(kind)
    pool = COLOUR_PHOTOS
    names = {"gan": "dcgan", "pixel_diffusion": "pixel-ddpm"}
    years = {"gan": 2018, "pixel_diffusion": 2021}
    specs = []
    for k, kind in enumerate(sorted(KINDS)):
        for i in range(n_per_kind):
            start = (3 * i + 2 * k) % len(pool)
            specs.append(OutsideGeneratorSpec(
                f"{names[kind]}-{i}", kind, world_seed * 1000 + 500 + k * n_per_kind + i,
                tuple(pool[(start + j) % len(pool)] for j in range(4)),
                steps.get(kind, get_kind(kind).default_steps),
                f"{years[kind] + i // 12}-{1 + (5 * i) % 12:02d}-15",
            ))  # fmt: skip
    return tuple(specs)


def _source_digest() -> str:
    h = hashlib.sha256()
    for name in _SOURCES:
        h.update(name.encode() + b"\0" + Path(importlib.import_module(name).__file__).read_bytes())
    return h.hexdigest()


def build_doc(specs: tuple[OutsideGeneratorSpec, ...], *, n_images: int, image_size: int,
              threads: int) -> dict[str, Any]:
    """What the images depend on: the specs, counts, sizes, sources and library versions."""
    import diffusers
    import torch

    return {"format": BUILD_FORMAT, "n_images": n_images, "image_size": image_size,
            "threads": threads, "specs": [asdict(s) for s in specs], "src": _source_digest(),
            "torch": torch.__version__, "diffusers": diffusers.__version__}  # fmt: skip


def outside_build_record(out_dir: Path) -> dict[str, Any] | None:
    """The build record of an outside collection folder (timings, losses, quality numbers
    per generator), or None when there is none or it is unreadable."""
    try:
        doc = json.loads((Path(out_dir) / BUILD_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _is_current(out_dir: Path, key: str) -> bool:
    record = outside_build_record(out_dir)
    if record is None or record.get("cache_key") != key or not record.get("files"):
        return False
    return folder_files(out_dir) == record["files"]


def _check_args(specs: Any, n_images: Any, image_size: Any, threads: Any) -> None:
    if not specs or not all(isinstance(s, OutsideGeneratorSpec) for s in specs):
        raise ValueError("specs must be a non-empty sequence of OutsideGeneratorSpec")
    names = [s.generator for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate outside generator names in {names}")
    for what, value, top in (("n_images", n_images, MAX_IMAGES), ("threads", threads, 256)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise ValueError(f"{what} must be an int from 1 to {top}, got {value!r}")
    check_image_size(image_size, smallest=16, largest=128)


def _mean(values: list[float], first: bool) -> float:
    k = max(1, len(values) // 10)  # as build.py: mean of the first / last 10 % of steps
    part = values[:k] if first else values[-k:]
    return float(sum(part) / len(part))


def _photo_rgb_mean(photos: tuple[str, ...]) -> list[float]:
    """Mean colour (0-1) of the crops a generator trains on: photos weigh equally."""
    means = [generator_region(p).reshape(-1, 3).mean(axis=0) / 255.0 for p in photos]
    return [round(float(v), 4) for v in np.mean(means, axis=0)]


def _train_and_sample(spec: OutsideGeneratorSpec, *, n_images: int, image_size: int,
                      say: Callable[[str], None]) -> tuple[np.ndarray, dict[str, Any]]:
    kind = get_kind(spec.kind)
    mod = importlib.import_module(kind.module)
    start = time.perf_counter()
    model, losses = mod.train_generator(spec.photos, seed=spec.seed, steps=spec.steps,
                                        image_size=image_size)  # fmt: skip
    trained = time.perf_counter()
    images = mod.sample_images(model, n_images, seed=spec.seed + 7919)
    sampled = time.perf_counter()
    floats = images[:QUALITY_SAMPLE].astype(np.float32) / 255.0
    check_not_diverged(spec.generator, floats)
    primary = losses[mod.PRIMARY_LOSS]
    stats = {
        "generator": spec.generator, "kind": spec.kind, "family": spec.family,
        "architecture": spec.architecture, "steps": spec.steps, "n_images": len(images),
        "train_seconds": round(trained - start, 3), "sample_seconds": round(sampled - trained, 3),
        "primary_loss": mod.PRIMARY_LOSS, "first_loss": _mean(primary, True),
        "last_loss": _mean(primary, False),
        "losses": {k: {"first": _mean(v, True), "last": _mean(v, False)}
                   for k, v in losses.items()},
        "distinct_fraction": distinct_fraction(floats),
        "high_freq_energy": high_freq_energy(floats),
        "pixel_std": round(float(floats.std()), 4),
        "rgb_mean": [round(float(v), 4) for v in floats.mean(axis=(0, 1, 2))],
        "photos_rgb_mean": _photo_rgb_mean(spec.photos),
        "platform_quality": platform_quality(images),
    }  # fmt: skip
    say(f"{spec.generator} ({spec.architecture} on {len(spec.photos)} photos): {spec.steps} "
        f"steps in {stats['train_seconds']:.1f} s, {mod.PRIMARY_LOSS} loss "
        f"{stats['first_loss']:.3f} -> {stats['last_loss']:.3f}; {len(images)} images in "
        f"{stats['sample_seconds']:.1f} s, {stats['distinct_fraction']:.0%} distinct"
        + (f"; the platform would quarantine it: {reason}"
           if (reason := stats["platform_quality"]["quarantine_reason"]) else ""))
    return images, stats


def platform_quality(images: np.ndarray) -> dict[str, Any]:
    """What the platform's own quality screen (`quality/stats.py`) makes of the images:
    black, constant and duplicate fractions and its quarantine reason (None: kept)."""
    agg = model_aggregate([image_measures(im) for im in images])
    keys = ("black_fraction", "constant_fraction", "duplicate_fraction", "quarantine_reason")
    return {k: agg[k] for k in keys}


def build_outside_collection(
    out_dir: Path, specs: tuple[OutsideGeneratorSpec, ...] | list[OutsideGeneratorSpec], *,
    n_images: int = DEFAULT_IMAGES, image_size: int = IMAGE_SIZE,
    threads: int = DEFAULT_THREADS, log: Callable[[str], None] | None = print,
) -> Path:
    """Train every spec, sample `n_images` PNGs each into `out_dir/<generator>/`, write
    `generators.csv` and the build record; returns `out_dir`.

    A complete earlier build with the same specs, counts, sources and libraries is reused
    (nothing retrained). Otherwise everything is built in a staging folder and swapped in;
    a failure (e.g. `GeneratorDivergedError`) leaves `out_dir` as it was. A non-empty
    `out_dir` that is not an outside collection is refused (`FileExistsError`).
    """
    import torch

    say = log or (lambda _msg: None)
    specs = tuple(specs) if isinstance(specs, list | tuple) else specs
    _check_args(specs, n_images, image_size, threads)
    out_dir = collection_path(out_dir)
    doc = build_doc(specs, n_images=n_images, image_size=image_size, threads=threads)
    key = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
    if _is_current(out_dir, key):
        say(f"outside collection under {out_dir} is up to date (cache key {key[:12]}); "
            f"reusing it")  # fmt: skip
        return out_dir
    check_replaceable(out_dir, BUILD_RECORD)  # before any training: fail fast
    staged = staging_folder(out_dir)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    start = time.perf_counter()
    try:
        rows = [s.csv_row() for s in specs]
        check_rows([s.generator for s in specs], rows)
        staged.mkdir()
        stats = []
        for spec in specs:  # one generator's images in memory at a time
            images, row = _train_and_sample(spec, n_images=n_images, image_size=image_size,
                                            say=say)  # fmt: skip
            write_images(staged / spec.generator, images)
            stats.append(row)
        write_generators_csv(staged, rows)
        record = {"cache_key": key, **doc, "files": folder_files(staged), "generators": stats,
                  "total_seconds": round(time.perf_counter() - start, 3)}
        (staged / BUILD_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        replace_folder(staged, out_dir, BUILD_RECORD)
    finally:
        torch.set_num_threads(previous)
        if staged.exists():
            shutil.rmtree(staged)
    say(f"outside collection of {len(specs)} generators x {n_images} images written to "
        f"{out_dir} in {time.perf_counter() - start:.1f} s")
    return out_dir
