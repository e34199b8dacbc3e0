"""Reuse a built world: a build is complete when its `world.json` is written, last.

The cache key covers everything the weights depend on: the spec, the step counts, the source
of every module of the world package and of the zoo helpers it reuses (by function, so
adding an architecture to the zoo does not retrain the world), and the torch and diffusers
versions. A later `build_world` with the same key and intact files (sha256 per
file, recorded in `world.json`) returns at once; anything else rebuilds from scratch, after
removing `world.json` so an interrupted rebuild is never mistaken for a complete one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from fakeimg_assets.testbed.world.spec import FAMILIES
from fakeimg_assets.testbed.zoo import models

WORLD_MANIFEST = "world.json"
BUILD_LOG = "build-log.json"  # timings and losses of the build (not deterministic)
# The zoo code a world's files depend on: whole helper modules, plus the individual zoo
# functions the world calls (not the whole zoo, whose other architectures change often).
_ZOO_MODULES = ("tokenizers", "card")
# world modules no weight depends on (the science run, its verdict, the photos dataset that
# `build_world` rewrites on every call, and the generators outside the Hub, which build their
# own cache in `outside.py`): not in the key
_NOT_WEIGHTS = frozenset({"science", "findings", "dataset", "gan", "pixel_diffusion",
                          "outside", "image_tensors"})
_ZOO_FUNCTIONS = (
    ("components", "seed_component"), ("components", "zoo_scheduler"),
    ("components", "tiny_clip_config"), ("components", "tiny_clip_text"),
    ("components", "tiny_t5"), ("variants", "write_legacy_tokenizer_files"),
    ("build", "repo_dir"), ("models", "ZooModel"), ("models", "built_architecture"),
)


def source_digest() -> str:
    """sha256 over the world package's modules and the zoo code the world reuses (a zoo
    name listed here that no longer exists fails: the key never silently loses a source)."""
    import importlib
    import inspect

    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):  # this package: world/
        if path.stem in _NOT_WEIGHTS:
            continue
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    zoo = models.__name__.rpartition(".")[0]
    for name in _ZOO_MODULES:
        source = inspect.getsource(importlib.import_module(f"{zoo}.{name}"))
        h.update(name.encode() + b"\0" + source.encode())
    for module, attr in _ZOO_FUNCTIONS:
        src = inspect.getsource(getattr(importlib.import_module(f"{zoo}.{module}"), attr))
        h.update(f"{module}.{attr}".encode() + b"\0" + src.encode())
    archs = sorted({f.arch for f in FAMILIES.values()})  # the world's, not the whole zoo's
    h.update(repr(([models.ARCHS[a] for a in archs], models.HUB_METADATA)).encode())
    return h.hexdigest()


def cache_key(doc: dict[str, Any]) -> str:
    """sha256 over the manifest document, the world/zoo sources and library versions."""
    import diffusers
    import torch

    blob = json.dumps(
        {"doc": doc, "src": source_digest(), "torch": torch.__version__,
         "diffusers": diffusers.__version__}, sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()


def file_hashes(root: Path, repos: list[str]) -> dict[str, str]:
    """sha256 of every file under the given repo folders (and the dataset), by relative path."""
    out: dict[str, str] = {}
    for rel in repos:
        for path in sorted((root / rel).rglob("*")):
            if path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                out[path.relative_to(root).as_posix()] = digest
    return out


def cached_manifest(root: Path, key: str) -> dict[str, Any] | None:
    """The manifest of a complete build with this key whose files are intact, else None."""
    path = root / WORLD_MANIFEST
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if doc.get("cache_key") != key:
        return None
    recorded = doc.get("files") or {}
    repos = sorted({"/".join(p.split("/")[:2]) if not p.startswith("datasets/")
                    else "/".join(p.split("/")[:3]) for p in recorded})  # fmt: skip
    if not recorded or file_hashes(root, repos) != recorded:
        return None
    return doc


def invalidate(root: Path) -> None:
    """Forget a previous build before overwriting any of its files."""
    (root / WORLD_MANIFEST).unlink(missing_ok=True)
