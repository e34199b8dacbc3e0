"""Byte-exact regeneration of a sampled image from its warehouse row.

Every parameter that decides the pixels is on the row (pinned revision, prompt, seed,
steps, guidance, size, batch, dtype and torch's thread count), so re-running its batch must
give the same bytes on the same device and library versions. This is the reproducibility
promise, tested. The thread count matters on CPU: kernels split their reductions by
thread, so 1 and 2 threads give different low bits, and so different PNG bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fakeimg_assets.lib.paths import fakeimg_home, sha256_bytes
from fakeimg_assets.real.post import post_process, replay_spec
from fakeimg_assets.sampling.device_slots import check_device_name
from fakeimg_assets.sampling.fetch import prepare, release_weights
from fakeimg_assets.sampling.limits import limits_of
from fakeimg_assets.sampling.load import load_pipeline
from fakeimg_assets.sampling.remote_plan import fetch_plan
from fakeimg_assets.sampling.sample import sample_images
from fakeimg_assets.sampling.types import ImageRequest, SamplingParams
from fakeimg_assets.warehouse.store import Warehouse
from resources import HubResource


@dataclass
class Regenerated:
    image_id: str
    recorded_sha256: str
    regenerated_sha256: str
    png: bytes

    @property
    def identical(self) -> bool:
        return self.recorded_sha256 == self.regenerated_sha256


def recorded_torch_threads(row: dict) -> int | None:
    """The row's sampling thread count, None when it was not recorded; the row is data,
    so a count outside 1..4096 is refused rather than handed to torch."""
    value = row.get("torch_threads")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
        raise ValueError(f"{row.get('image_id')!r} records torch_threads={value!r}, "
                         "not a count in 1..4096")
    return value


def recorded_device(row: dict, cuda_count: int) -> str:
    """Where to re-sample the row: its recorded device (`cpu`, `cuda` or `cuda:K`, else
    refused, naming the image), the CPU on a machine without CUDA, and this machine's first
    GPU for a `cuda:K` it lacks."""
    value = row.get("device")
    try:
        check_device_name(value)
    except ValueError:
        raise ValueError(f"{row.get('image_id')!r} records device={value!r}, not 'cpu', "
                         "'cuda' or 'cuda:K'") from None
    if value == "cpu" or cuda_count == 0:
        return "cpu"
    if value.startswith("cuda:") and int(value.split(":")[1]) >= cuda_count:
        return "cuda"  # sampled on a GPU this machine lacks
    return value


def regenerate_image(
    image_id: str,
    *,
    out: Path | None = None,
    home: Path | None = None,
    hub: object | None = None,
    keep_weights: bool = False,
) -> Regenerated:
    """Re-sample the batch that made `image_id` and return that image's new bytes.

    The weights are re-downloaded (verified) as needed and removed again afterwards
    unless `keep_weights`. Sampling runs at the row's recorded torch thread count and the
    process's count is restored afterwards; a row without one (written before it was
    recorded) samples at the current count, and a note says so.
    """
    import torch

    store = Warehouse(home or fakeimg_home())
    rows = store.query("SELECT * FROM images WHERE image_id = ?", [image_id])
    if rows.height == 0:
        raise KeyError(f"no image with image_id {image_id!r} in the warehouse")
    row = rows.row(0, named=True)
    if row["label"] != "fake":
        raise ValueError(f"{image_id!r} is a real image; only sampled images can be regenerated")
    recorded_threads = recorded_torch_threads(row)  # checked before any download
    device = recorded_device(row, torch.cuda.device_count() if torch.cuda.is_available() else 0)
    bs, idx = int(row["batch_size"]), int(row["image_index"])
    start = idx - idx % bs
    batch = store.query(
        "SELECT * FROM images WHERE source = ? AND label = 'fake' AND image_index >= ? "
        "AND image_index < ? ORDER BY image_index",
        [row["source"], start, start + bs],
    ).to_dicts()
    hub = hub or HubResource(cache_dir=str((home or fakeimg_home()) / "hf-cache"))
    meta = store.query(
        "SELECT base_revision FROM model_metadata WHERE model_id = ?", [row["source"]])
    base_revision = meta["base_revision"][0] if meta.height else None
    remote = fetch_plan(hub, row["source"], row["revision"],  # type: ignore[arg-type]
                        base_revision=base_revision)
    prepared = prepare(
        row["source"], row["revision"], remote.plan, hub.download, limits_of(hub)
    )
    dtype = getattr(torch, row["dtype"])
    try:
        pipe = load_pipeline(prepared, device=device, dtype=dtype)
    finally:  # loaded in memory: the cached weights are no longer needed
        if not keep_weights:
            release_weights(prepared)
    if type(pipe.scheduler).__name__ != row["scheduler"]:
        raise ValueError(
            f"revision {row['revision'][:8]} loads scheduler {type(pipe.scheduler).__name__}, "
            f"but the row recorded {row['scheduler']}"
        )
    requests = [
        ImageRequest(r["image_index"], r["prompt"], r["prompt_id"], r["seed"]) for r in batch
    ]
    params = SamplingParams(
        n_images=len(batch),
        steps=row["steps"],
        guidance_scale=row["guidance_scale"],
        height=row["height"],
        width=row["width"],
        batch_size=len(batch),
    )
    threads_before = torch.get_num_threads()
    if recorded_threads is None:
        print(f"note: {image_id!r} has no recorded torch thread count; sampling at "
              f"{threads_before} threads, and CPU bytes may differ at another count")
    else:
        torch.set_num_threads(recorded_threads)
    try:
        result = sample_images(pipe, prepared, requests, params, device=device, dtype=dtype,
                               recorded_batch=True)
    finally:
        torch.set_num_threads(threads_before)
    recorded_versions = json.loads(row["library_versions"] or "{}")
    if recorded_versions and recorded_versions != result.library_versions:
        print(f"note: library versions differ from the recording: {recorded_versions}")
    img = next(i for i in result.images if i.request.index == idx)
    png = post_process(img, replay_spec(row.get("post")), image_id).data  # as sampled_images
    if out is not None:
        Path(out).write_bytes(png)
    return Regenerated(image_id, row["sha256"], sha256_bytes(png), png)
