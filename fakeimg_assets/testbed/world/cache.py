"""Reuse a built world: a build is complete when its `world.json` is written, last.

The cache key covers everything the weights depend on: the spec, the step counts, the source
of every module under `fakeimg_assets/testbed/world/` and of the zoo helpers it reuses (by function,
so adding an architecture to the zoo does not retrain the world), and the torch and diffusers
versions. A later `build_world` with the same key and intact files (sha256 per
file, recorded in `world.json`) returns at once; anything else rebuilds from scratch, after
removing `world.json` so an interrupted rebuild is never mistaken for a complete one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

WORLD_MANIFEST = "world.json"
BUILD_LOG = "build-log.json"  # timings and losses of the build (not deterministic)
# The zoo code a world's files depend on: whole helper modules, plus the individual zoo
# functions the world calls (not the whole zoo, whose other architectures change often).
_ZOO_MODULES = ("tokenizers", "card")
# world modules no weight depends on (the science run, its verdict, the photos dataset that
# `build_world` rewrites on every call): not in the key
_NOT_WEIGHTS = frozenset({"science.py", "findings.py", "dataset.py"})
_ZOO_FUNCTIONS = (
    ("components", "_seed"), ("components", "_scheduler"), ("components", "_clip_config"),
    ("components", "_clip_text"), ("components", "_vae"), ("variants", "_write_legacy_tokenizer_files"),
    ("build", "repo_dir"), ("catalog", "ZooModel"), ("catalog", "_m"),
)


def _source_digest() -> str:
    """sha256 over `fakeimg_assets/testbed/world/*.py` and the zoo code the world reuses."""
    import importlib
    import inspect

    import fakeimg_assets

    pkg = Path(fakeimg_assets.__file__).parent
    h = hashlib.sha256()
    for path in sorted((pkg / "world").glob("*.py")):
        if path.name in _NOT_WEIGHTS:
            continue
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    for name in _ZOO_MODULES:
        h.update(name.encode() + b"\0" + (pkg / "zoo" / f"{name}.py").read_bytes())
    for module, attr in _ZOO_FUNCTIONS:
        obj = getattr(importlib.import_module(f"fakeimg_assets.testbed.zoo.{module}"), attr, None)
        src = inspect.getsource(obj) if obj is not None else "<missing>"
        h.update(f"{module}.{attr}".encode() + b"\0" + src.encode())
    for table in ("_PIPELINE_CLASSES", "HUB_METADATA"):
        h.update(repr(getattr(importlib.import_module("fakeimg_assets.testbed.zoo.catalog"), table)).encode())
    return h.hexdigest()


def cache_key(doc: dict[str, Any]) -> str:
    """sha256 over the manifest document, the world/zoo sources and library versions."""
    import diffusers
    import torch

    blob = json.dumps(
        {"doc": doc, "src": _source_digest(), "torch": torch.__version__,
         "diffusers": diffusers.__version__}, sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()


def file_hashes(root: Path, repos: list[str]) -> dict[str, str]:
    """sha256 of every file under the given repo folders (and the dataset), by relative path."""
    out: dict[str, str] = {}
    for rel in repos:
        for path in sorted((root / rel).rglob("*")):
            if path.is_file():
                out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
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
