"""Fixture repos for the local Hub server's tests (tests/testbed/local_hub/) and raw HTTP
requests, for what the client library hides."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path

TEXT_TO_IMAGE = {"filter": "diffusers", "pipeline_tag": "text-to-image"}
# (repo id, created_at, downloads, likes): the text-to-image diffusers repos of the fixture.
T2I = [
    ("acme/sd-a", "2024-01-01T00:00:00Z", 40, 1),
    ("acme/sd-b", "2024-03-01T12:00:00.123Z", 10, 7),
    ("acme/sd-c", "2024-02-01T00:00:00+00:00", 30, 3),
    ("beta/sd-d.v1_x-2", "2024-04-01T00:00:00Z", 20, 5),
    ("lock/gated-sd", "2023-12-01T00:00:00Z", 0, 0),
]


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def fake_weights(seed: str, size: int) -> bytes:
    """Arbitrary deterministic bytes standing in for safetensors weights."""
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}{counter}".encode()).digest()
        counter += 1
    return out[:size]


def make_repo(
    root: Path,
    repo_id: str,
    *,
    hub: dict | None = None,
    card: str | None = "license: mit\nlibrary_name: diffusers\npipeline_tag: text-to-image\n",
    model_index: bool = True,
) -> Path:
    """A small diffusers-style repo: model_index, unet/vae/text_encoder, fp16 variant, card."""
    repo = root / repo_id
    (repo / "unet").mkdir(parents=True)
    (repo / "vae").mkdir()
    (repo / "text_encoder").mkdir()
    if model_index:
        (repo / "model_index.json").write_text(
            json.dumps({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "X"]})
        )
    if card is not None:
        (repo / "README.md").write_text(f"---\n{card}tags:\n- tiny\n---\n# {repo_id}\n")
    (repo / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    (repo / "unet" / "config.json").write_text('{"sample_size": 8}')
    (repo / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(fake_weights(repo_id, 5000))
    (repo / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(
        fake_weights(repo_id + "16", 2500)
    )
    (repo / "vae" / "config.json").write_text('{"latent_channels": 4}')
    (repo / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(
        fake_weights(repo_id + "v", 700)
    )
    (repo / "text_encoder" / "config.json").write_text("{}")
    if hub is not None:
        (repo / ".hub.json").write_text(json.dumps(hub))
    return repo


def build_root(base: Path) -> Path:
    """The shared fixture folder: text-to-image repos, a gated one, others, top-level junk."""
    for repo_id, created, downloads, likes in T2I:
        meta = {"created_at": created, "downloads": downloads, "likes": likes}
        if repo_id.startswith("lock/"):
            meta["gated"] = "manual"
        make_repo(base, repo_id, hub=meta)
    make_repo(
        base,
        "acme/img2img",
        hub={"created_at": "2025-01-01T00:00:00Z", "pipeline_tag": "image-to-image"},
    )
    make_repo(
        base,
        "other/clip-thing",
        hub={"library_name": "transformers", "pipeline_tag": "feature-extraction"},
        model_index=False,
    )
    make_repo(base, "plain/no-meta", card=None)  # defaults only: no .hub.json, no card
    (base / "zoo.json").write_text("{}")  # top-level files are not repos
    (base / "secret.txt").write_text("top secret")
    return base


def raw(
    url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP request (no proxies), for what the client hides: headers, ranges."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with opener.open(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()
