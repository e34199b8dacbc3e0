"""Deliberate damage done to an otherwise healthy repo after it is written.

Each failure kind of the catalogue (`models.BROKEN`: remote code, pickle-only weights, a
corrupt file, no `model_index.json`) breaks a repo the way real uploads break, so the
healthy build path carries no special case beyond calling `damage_repo`. (The black VAE is
damage done in memory, before saving: `registry.build_pipeline`.)
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from fakeimg_assets.testbed.zoo.models import (
    CORRUPT,
    HOSTILE,
    HUB_METADATA,
    NO_INDEX,
    PICKLE_ONLY,
    ZooModel,
)

_HOSTILE_PIPELINE_PY = '''\
"""Stand-in for hostile remote code in the fakeimg test zoo.

A loader that honours `_class_name: ["pipeline", "EvilPipeline"]` would import this file.
It is harmless: importing it only raises, so a test can tell the code was reached.
"""

raise ImportError(
    "fakeimg zoo: remote code from {model_id} was imported; "
    "loaders must refuse custom pipelines and never run repo code"
)
'''


def _make_hostile(repo: Path, model: ZooModel) -> None:
    """Custom pipeline class in model_index.json plus the remote code it points at."""
    index_path = repo / "model_index.json"
    index = json.loads(index_path.read_text())
    index["_class_name"] = ["pipeline", "EvilPipeline"]
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    (repo / "pipeline.py").write_text(_HOSTILE_PIPELINE_PY.format(model_id=model.model_id))


def _make_pickle_only(repo: Path, component: str) -> None:
    """Drop every safetensors file of one component: only the `.bin` remains."""
    for f in sorted((repo / component).glob("*.safetensors")):
        f.unlink()


def _make_corrupt(repo: Path, component: str) -> None:
    """Keep a plausible header, truncate and garble the data; no intact copy survives."""
    path = repo / component / "diffusion_pytorch_model.safetensors"
    data = path.read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    body_start = 8 + header_len
    keep = body_start + (len(data) - body_start) // 3
    garbage = hashlib.sha256(b"fakeimg zoo corrupt").digest() * 64
    path.write_bytes(data[:keep] + garbage)
    (repo / component / "diffusion_pytorch_model.bin").unlink(missing_ok=True)
    (repo / component / "diffusion_pytorch_model.fp16.safetensors").unlink(missing_ok=True)


def _make_no_index(repo: Path) -> None:
    """Only the single-file checkpoint, README and .gitattributes remain."""
    for child in sorted(repo.iterdir()):
        if child.is_dir():
            shutil.rmtree(child)
        elif child.name not in ("README.md", ".gitattributes", HUB_METADATA) and (
            child.suffix not in (".safetensors", ".ckpt")
        ):
            child.unlink()


def damage_repo(repo: Path, model: ZooModel, kind: str, denoiser: str) -> None:
    """Break the freshly written `repo` as failure `kind` says ("" : leave it healthy)."""
    if kind == HOSTILE:
        _make_hostile(repo, model)
    elif kind == PICKLE_ONLY:
        _make_pickle_only(repo, "unet")
    elif kind == CORRUPT:
        _make_corrupt(repo, denoiser)
    elif kind == NO_INDEX:
        _make_no_index(repo)
