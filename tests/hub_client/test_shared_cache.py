"""A download sweeps the bodies of killed downloads from its repo's `blobs/`: this machine's
at once, by their pid; another machine's of a shared cache only once idle, since its pid
means nothing here and a live download keeps writing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

BASE = "pixelsmith/dreamscape-v1"  # a repo of the tiny zoo


@pytest.mark.slow
def test_a_download_leaves_a_body_that_is_still_being_written(hub_url: str,
                                                               tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    from fakeimg_assets.hub_client.cache_writer import (
        BODY_IDLE_S,
        download_to_cache,
        repo_folder,
    )
    from fakeimg_assets.lib.leftovers import machine_tag

    proc = subprocess.Popen(["true"])
    proc.wait()  # a pid no process holds here: a writer on another machine looks like this
    cache = tmp_path / "hf-cache"
    blobs = repo_folder(cache, "model", BASE) / "blobs"
    blobs.mkdir(parents=True)
    writing = blobs / f".{'a' * 16}.gpu-7~{proc.pid}.0badc0de.tmp"  # another machine's, live
    killed = blobs / f".{'b' * 16}.gpu-7~{proc.pid}.0badc0de.tmp"  # killed there long ago
    ours = blobs / f".{'c' * 16}.{machine_tag()}~{proc.pid}.0badc0de.tmp"  # killed here, now
    for body in (writing, killed, ours):
        body.write_bytes(b"part of a body")
    os.utime(killed, (os.path.getmtime(killed) - BODY_IDLE_S - 1,) * 2)
    revision = HfApi(endpoint=hub_url).model_info(BASE).sha
    got = download_to_cache(endpoint=hub_url, token=False, cache_dir=cache, repo_id=BASE,
                            filename="model_index.json", revision=revision)
    assert got.is_file()
    assert writing.read_bytes() == b"part of a body"
    assert not killed.exists()
    assert not ours.exists()  # this machine's: its pid tells, at once
    assert list(blobs.glob(".*.tmp")) == [writing]  # and the download renamed its own body
