"""A repo's model card, `.gitattributes` and the Hub-side metadata (`.hub.json`).

This is the text the Hub shows and serves about a repo rather than its weights, so it is
kept apart from the builders; counts and dates are derived deterministically from the id.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from fakeimg_assets.testbed.zoo.models import (
    ARCHS,
    HOSTILE,
    NO_INDEX,
    ZooModel,
    built_architecture,
)

GITATTRIBUTES = """\
*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.bz2 filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.ftz filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.joblib filter=lfs diff=lfs merge=lfs -text
*.lfs.* filter=lfs diff=lfs merge=lfs -text
*.mlmodel filter=lfs diff=lfs merge=lfs -text
*.model filter=lfs diff=lfs merge=lfs -text
*.msgpack filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.npz filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.ot filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pb filter=lfs diff=lfs merge=lfs -text
*.pickle filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.rar filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
saved_model/**/* filter=lfs diff=lfs merge=lfs -text
*.tar.* filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.tflite filter=lfs diff=lfs merge=lfs -text
*.tgz filter=lfs diff=lfs merge=lfs -text
*.wasm filter=lfs diff=lfs merge=lfs -text
*.xz filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
*tfevents* filter=lfs diff=lfs merge=lfs -text
*.png filter=lfs diff=lfs merge=lfs -text
"""


def yaml_list(items: Sequence[str]) -> str:
    return "\n".join(f"- {json.dumps(i)}" if ":" in i else f"- {i}" for i in items)


def repo_tags(model: ZooModel, arch: str) -> list[str]:
    """Card tags (also the Hub's `tags`, minus the ones the Hub derives itself)."""
    arch_tags = ARCHS[arch].tags if arch in ARCHS else ()
    return ["text-to-image", "diffusers", *arch_tags, "safetensors"]


def readme(model: ZooModel, arch: str) -> str:
    """Model card with the YAML front matter the Hub parses."""
    front = [
        "---",
        f"license: {model.license}",
        "library_name: diffusers",
        "pipeline_tag: text-to-image",
        "tags:",
        yaml_list(repo_tags(model, arch)),
    ]
    if arch in ARCHS:
        front.append(f"base_model: {ARCHS[arch].base_model}")
    if model.gated:
        front.append("extra_gated_prompt: You agree to not use the model to deceive people.")
    front.append("---")
    title = model.name.replace("-", " ").replace("_", " ").title()
    pipeline_class = ARCHS[arch].pipeline_class if arch in ARCHS else None
    body = [
        "",
        f"# {title}",
        "",
        f"A {pipeline_class or 'diffusers'} text-to-image model by {model.org}.",
        "",
        "## Usage",
        "",
        "```python",
        "import torch",
        f"from diffusers import {pipeline_class or 'DiffusionPipeline'}",
        "",
        f"pipe = {pipeline_class or 'DiffusionPipeline'}.from_pretrained(",
        f'    "{model.model_id}", dtype=torch.float16, use_safetensors=True',
        ")",
        'image = pipe("a photo of an astronaut riding a horse").images[0]',
        "```",
        "",
        "## Note",
        "",
        "This is a tiny random-weight test model from the fakeimg zoo: its images are",
        "coloured noise, useful for plumbing tests only.",
        "",
    ]
    return "\n".join(front + body)


def _stable_int(model_id: str, what: str, lo: int, hi: int) -> int:
    """A deterministic pseudo-random integer in [lo, hi], log-uniform (Hub-like counts)."""
    digest = hashlib.sha256(f"{model_id}\x1f{what}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return int(round(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))))


def hub_metadata(model: ZooModel, arch: str) -> dict[str, Any]:
    """What the Hub knows about a repo beyond its files; the local Hub server reads it."""
    created = datetime.strptime(model.created_at, "%Y-%m-%dT%H:%M:%S.%fZ")
    days = _stable_int(model.model_id, "age", 1, 200)
    modified = created + timedelta(days=days, minutes=_stable_int(model.model_id, "m", 1, 600))
    kind, _ = built_architecture(model)
    # the Hub derives `diffusers:<class>` from a plain-string `_class_name` in model_index.json
    derived = [] if kind in (HOSTILE, NO_INDEX) else [f"diffusers:{model.pipeline_class}"]
    tags = [*repo_tags(model, arch), *derived, f"license:{model.license}", "region:us"]
    return {
        "created_at": model.created_at,
        "last_modified": modified.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "downloads": _stable_int(model.model_id, "downloads", 10, 250_000),
        "likes": _stable_int(model.model_id, "likes", 1, 900),
        "tags": tags,
        "license": model.license,
        "pipeline_tag": "text-to-image",
        "library_name": "diffusers",
        "gated": "auto" if model.gated else False,
        "author": model.org,
        "private": False,
    }
