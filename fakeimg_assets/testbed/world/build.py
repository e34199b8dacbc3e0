"""`build_world`: train every generator of a `WorldSpec` and save it as a Hub repo.

Repos land at `root/<org>/<name>` in the zoo's layout (safetensors pipeline, legacy CLIP
tokenizer files, card, `.gitattributes`, `.hub.json`), so `fakeimg hub serve root` serves
them and `fakeimg run` crawls, plans, downloads and samples them like any Hub model.
Root-level files (`world.json`, `grid-<family>.png`) are not repos and the server skips them.
The detector's real photos (right halves) are written as the dataset repo `world/photos`.
A generator whose samples look diverged fails the build instead of being served. A complete
build with the same cache key is reused (see `cache.py`).
"""

from __future__ import annotations

import importlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fakeimg_assets.testbed.world.cache import (
    BUILD_LOG,
    WORLD_MANIFEST,
    cache_key,
    cached_manifest,
    file_hashes,
    invalidate,
)
from fakeimg_assets.testbed.world.card import hub_metadata, readme
from fakeimg_assets.testbed.world.checks import (
    MIN_DISTINCT_FRACTION,
    check_not_diverged,
    high_freq_energy,
    sample,
    save_grid,
)
from fakeimg_assets.testbed.world.dataset import WORLD_PHOTOS_ID, write_world_photos
from fakeimg_assets.testbed.world.spec import (
    DEFAULT_STEPS,
    DEFAULT_VAE_STEPS,
    FAMILIES,
    WORLD_ORG,
    GeneratorSpec,
    WorldSpec,
    default_world,
    family_module,
)
from fakeimg_assets.testbed.zoo.build import quiet_saving, repo_dir
from fakeimg_assets.testbed.zoo.card import GITATTRIBUTES
from fakeimg_assets.testbed.zoo.models import HUB_METADATA
from fakeimg_assets.testbed.zoo.variants import write_legacy_tokenizer_files


@dataclass(frozen=True)
class BuiltGenerator:
    """One trained, checked and saved generator, with what it cost."""
    model_id: str
    repo: Path
    steps: int
    seconds: float
    first_loss: float  # mean of the first 10 % of steps
    last_loss: float  # mean of the last 10 % of steps
    high_freq_energy: float


def finetune_steps(steps: int) -> int:
    """Continued training is shorter than the base's, as community fine-tunes are."""
    return max(1, steps // 3)


def save_repo(root: Path, spec: GeneratorSpec, pipe: Any, *, steps: int, image_size: int) -> Path:
    """Write one generator's repo from scratch (zoo layout and metadata writers)."""
    repo = repo_dir(root, spec.model_id)
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    with quiet_saving():
        pipe.save_pretrained(repo, safe_serialization=True)
        write_legacy_tokenizer_files(pipe, repo)
    (repo / "README.md").write_text(readme(spec, steps=steps, image_size=image_size))
    (repo / ".gitattributes").write_text(GITATTRIBUTES)
    meta = hub_metadata(spec)
    (repo / HUB_METADATA).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return repo


def _manifest_doc(spec: WorldSpec, *, steps: int, vae_steps: int) -> dict[str, Any]:
    """`world.json`'s deterministic part: the spec and step counts (no timings)."""
    return {
        "seed": spec.seed, "image_size": spec.image_size, "steps": steps,
        "vae_steps": vae_steps, "generators": [asdict(g) for g in spec.generators],
        "photos_dataset": WORLD_PHOTOS_ID,
    }


def build_world(
    root: Path, spec: WorldSpec, *, steps: int = DEFAULT_STEPS,
    vae_steps: int = DEFAULT_VAE_STEPS, log: Callable[[str], None] | None = None,
    force: bool = False, min_distinct: float = MIN_DISTINCT_FRACTION,
) -> list[BuiltGenerator]:
    """Train and save every generator of `spec` under `root`; returns them in spec order.

    Bases train `steps` denoiser steps from scratch; fine-tunes continue their base's
    weights for `finetune_steps(steps)`. Each family's autoencoder trains `vae_steps` once.
    A complete earlier build with the same cache key is returned as it is (`force` rebuilds).
    Raises `GeneratorDivergedError` on a diverged generator (nothing is half-reported),
    including one whose samples are less than `min_distinct` distinct.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    say = log or (lambda _msg: None)
    doc = _manifest_doc(spec, steps=steps, vae_steps=vae_steps)
    if min_distinct != MIN_DISTINCT_FRACTION:  # a stricter or looser check is another build
        doc["min_distinct"] = min_distinct
    key = cache_key(doc)
    write_world_photos(root)  # no weights: always current, whatever the cache says
    if not force and cached_manifest(root, key) is not None:
        built = _from_log(root)
        if built is not None:
            say(f"world under {root} is up to date (cache key {key[:12]}); reusing it")
            return built
    invalidate(root)
    _remove_stale(root, spec, say)
    built = _train_all(root, spec, steps=steps, vae_steps=vae_steps, say=say,
                       min_distinct=min_distinct)
    (root / BUILD_LOG).write_text(json.dumps([_log_row(b, root) for b in built], indent=2) + "\n")
    repos = [g.model_id for g in spec.generators]
    doc.update(cache_key=key, files=file_hashes(root, repos))
    tmp = root / (WORLD_MANIFEST + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(root / WORLD_MANIFEST)  # written last: the completion marker
    return built


def _remove_stale(root: Path, spec: WorldSpec, say: Callable[[str], None]) -> None:
    """Generators and grids of an earlier, different world are not served with this one."""
    keep = {g.model_id for g in spec.generators}
    org = root / WORLD_ORG
    for repo in sorted(org.iterdir()) if org.is_dir() else []:
        if repo.is_dir() and f"{WORLD_ORG}/{repo.name}" not in keep:
            shutil.rmtree(repo)
            say(f"removed {WORLD_ORG}/{repo.name}: not in this world")
    for grid in root.glob("grid-*.png"):
        if grid.stem.removeprefix("grid-") not in spec.families:
            grid.unlink()


def _log_row(b: BuiltGenerator, root: Path) -> dict[str, Any]:
    row = asdict(b)
    row["repo"] = b.repo.relative_to(root).as_posix()
    return row


def _from_log(root: Path) -> list[BuiltGenerator] | None:
    try:
        rows = json.loads((root / BUILD_LOG).read_text())
        return [BuiltGenerator(**{**r, "repo": root / r["repo"]}) for r in rows]
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _train_all(
    root: Path, spec: WorldSpec, *, steps: int, vae_steps: int, say: Callable[[str], None],
    min_distinct: float = MIN_DISTINCT_FRACTION
) -> list[BuiltGenerator]:
    import copy

    import torch

    parts: dict[str, Any] = {}
    states: dict[str, dict[str, Any]] = {}
    built: list[BuiltGenerator] = []
    for family in spec.families:
        start = time.perf_counter()
        mod = importlib.import_module(family_module(family))
        parts[family] = mod.family_parts(family, spec.seed, spec.image_size, vae_steps=vae_steps)
        say(f"{family}: autoencoder {vae_steps} steps in {time.perf_counter() - start:.1f} s "
            f"(loss {parts[family].vae_loss:.4f})")
    for gen in spec.generators:
        start = time.perf_counter()
        mod = importlib.import_module(family_module(gen.family))
        n = steps if gen.base is None else finetune_steps(steps)
        denoiser, losses = mod.train_denoiser(
            gen, parts[gen.family], spec.image_size, steps=n,
            init_state=None if gen.base is None else states[gen.base],
        )
        states[gen.model_id] = copy.deepcopy(denoiser.state_dict())
        pipe = mod.assemble(gen, parts[gen.family], denoiser)
        with torch.no_grad():
            images = sample(pipe, 8, seed=gen.seed)
        check_not_diverged(gen.model_id, images, min_distinct)
        repo = save_repo(root, gen, pipe, steps=n, image_size=spec.image_size)
        if gen == _first_of(spec, gen.family):  # one sample grid per family, from its first base
            save_grid(images, root / f"grid-{gen.family}.png")
        k = max(1, len(losses) // 10)
        b = BuiltGenerator(
            gen.model_id, repo, n, time.perf_counter() - start, sum(losses[:k]) / k,
            sum(losses[-k:]) / k, high_freq_energy(images),
        )
        built.append(b)
        say(f"{gen.model_id}: {n} steps in {b.seconds:.1f} s, loss {b.first_loss:.3f} -> "
            f"{b.last_loss:.3f}, high-freq energy {b.high_freq_energy:.3f}")
    return built


def _first_of(spec: WorldSpec, family: str) -> GeneratorSpec:
    return next(g for g in spec.generators if g.family == family)


def world_build_command(args: Any) -> int:
    """`fakeimg world build DIR [--generators N] [--families F ...] [--steps N]
    [--vae-steps N] [--seed N] [--force]`."""
    start = time.perf_counter()
    families = tuple(args.families) if args.families else tuple(FAMILIES)
    spec = default_world(args.generators, seed=args.seed, families=families)
    steps = DEFAULT_STEPS if args.steps is None else args.steps
    vae_steps = DEFAULT_VAE_STEPS if args.vae_steps is None else args.vae_steps
    built = build_world(
        Path(args.dir), spec, steps=steps, vae_steps=vae_steps, log=print, force=args.force
    )
    print(f"world of {len(built)} trained generators ({', '.join(spec.families)}) ready in "
          f"{time.perf_counter() - start:.1f} s under {args.dir} "
          f"(serve it with: fakeimg hub serve {args.dir})")
    return 0
