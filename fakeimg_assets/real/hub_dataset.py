"""Real photos from a Hugging Face *dataset* repo, through the same client and `HF_ENDPOINT`.

The repo follows the Hub's imagefolder convention: image files plus `metadata.csv` /
`metadata.jsonl` (`file_name,text`). Downloads obey the model files' rules: the listing is
read once at a pinned commit, each file is fetched by its exact name (never a pattern), sizes
and listed sha256 are verified with one re-fetch, and the snapshot must hold exactly the plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from fakeimg_assets.real.captions import CAPTION_TABLES, caption_for, caption_tables
from fakeimg_assets.real.sources import IMAGE_SUFFIXES, RawPhoto
from fakeimg_assets.sampling.verify_download import RepoFile, fetch_verified, unsafe_name_reason


def validate_dataset_id(repo_id: str) -> str:
    """`org/name` or fail naming the bad id."""
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    if len(parts) != 2 or not all(parts) or any(p in (".", "..") for p in parts):
        raise ValueError(f"invalid Hub dataset id {repo_id!r}: expected 'org/name'")
    return repo_id


def plan_dataset_files(siblings: list[Any]) -> tuple[list[RepoFile], list[str]]:
    """Image files and caption tables to fetch, and the names refused (unsafe names)."""
    files, refused = [], []
    for s in siblings:
        path = s.rfilename
        base = PurePosixPath(path).name
        if PurePosixPath(path).suffix.lower() not in IMAGE_SUFFIXES and base not in CAPTION_TABLES:
            continue
        if unsafe_name_reason(path):
            refused.append(path)
            continue
        lfs = getattr(s, "lfs", None)
        sha = getattr(lfs, "sha256", None) if lfs is not None else None
        if s.size is None:
            raise ValueError(f"dataset listing gives no size for {path!r}")
        files.append(RepoFile(path, int(s.size), sha))
    return sorted(files, key=lambda f: f.path), refused


def dataset_snapshot(hub: Any, repo_id: str) -> tuple[Path, str, list[str]]:
    """Fetch a dataset repo's images and caption tables, verified; (folder, commit, refused)."""
    from huggingface_hub import HfApi, hf_hub_download

    from fakeimg_assets.retry import RetrySettings, call_with_retries

    repo_id = validate_dataset_id(repo_id)
    endpoint, token, cache = hub.resolved_endpoint(), hub.auth(), hub.resolved_cache_dir()
    api = HfApi(endpoint=endpoint, token=token)
    info = call_with_retries(
        lambda: api.dataset_info(repo_id, files_metadata=True),
        what=f"dataset_info({repo_id!r})",
        settings=RetrySettings(attempts=hub.retry_attempts, retry_after_cap_s=hub.retry_max_wait_s),
    )
    revision = info.sha
    files, refused = plan_dataset_files(list(info.siblings or []))
    if not any(PurePosixPath(f.path).suffix.lower() in IMAGE_SUFFIXES for f in files):
        raise ValueError(f"Hub dataset {repo_id} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    total = sum(f.size for f in files)
    if total > hub.max_download_bytes:
        raise ValueError(
            f"Hub dataset {repo_id}: {total} bytes to fetch exceed max_download_bytes "
            f"{hub.max_download_bytes}"
        )
    snapshot = cache / f"datasets--{repo_id.replace('/', '--')}" / "snapshots" / str(revision)

    def fetch(path: str, force: bool) -> Path:
        return Path(
            hf_hub_download(
                repo_id,
                path,
                repo_type="dataset",
                revision=revision,
                cache_dir=cache,
                endpoint=endpoint,
                token=token,
                force_download=force,
            )
        )

    fetch_verified(fetch, files, what=f"dataset {repo_id}@{str(revision)[:8]}",
                   revision=str(revision), snapshot=snapshot)
    return snapshot, str(revision), refused


def dataset_photos(hub: Any, repo_id: str) -> Iterator[RawPhoto]:
    """Every image of the dataset repo with its caption; refused names yield an error photo."""
    from fakeimg_assets.real.sources import image_files

    snapshot, _, refused = dataset_snapshot(hub, repo_id)
    tables = caption_tables(snapshot)
    for p in image_files(snapshot):
        rel = p.relative_to(snapshot).as_posix()
        try:
            data = p.read_bytes()
        except OSError:
            data = b""
        yield RawPhoto(rel, caption_for(p, rel, tables), data)
    for path in refused:
        yield RawPhoto(path, "", b"", error=f"unsafe file name: {unsafe_name_reason(path)}")
