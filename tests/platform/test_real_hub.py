"""The same client code against the real Hugging Face Hub: opt-in with FAKEIMG_REAL_HUB=1.

Never runs in CI (no network there); a researcher runs it before trusting a new
huggingface_hub or diffusers release.
"""

from __future__ import annotations

import itertools
import os

import pytest

from fakeimg_assets.sampling.remote_plan import fetch_plan
from resources import HubResource

pytestmark = [
    pytest.mark.real_hub,
    pytest.mark.skipif(
        os.environ.get("FAKEIMG_REAL_HUB") != "1", reason="talks to huggingface.co; set FAKEIMG_REAL_HUB=1"
    ),
]


def test_real_hub_crawl_and_download_plan(tmp_path) -> None:
    hub = HubResource(endpoint="https://huggingface.co", cache_dir=str(tmp_path))
    rows = list(itertools.islice(hub.list_text_to_image_models(limit=5), 5))
    assert len(rows) == 5 and all(r["sha"] and r["created_at"] for r in rows)
    remote = fetch_plan(hub, "stable-diffusion-v1-5/stable-diffusion-v1-5")
    assert remote.plan.pipeline_class == "StableDiffusionPipeline"
    assert not any(f.endswith((".bin", ".ckpt")) for f in remote.plan.files)
    assert remote.plan.downloaded_bytes < remote.plan.repo_bytes / 3
