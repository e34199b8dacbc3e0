"""Reuse a built world: a build is complete when its `world.json` is written, last.

The cache key covers everything the weights depend on: the spec, the step counts, the source
of every module under `fakeimg_assets/world/` and of the zoo writers it reuses, and the torch
and diffusers versions. A later `build_world` with the same key and intact files (sha256 per
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
_SOURCES = ("world", "zoo")


def _source_digest() -> str:
    import fakeimg_assets

    pkg = Path(fakeimg_assets.__file__).parent
    h = hashlib.sha256()
    for folder in _SOURCES:
        for path in sorted((pkg / folder).glob("*.py")):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
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
