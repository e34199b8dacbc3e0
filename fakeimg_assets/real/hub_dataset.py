"""Real photos from a Hugging Face *dataset* repo, through the same client and `HF_ENDPOINT`.

The repo follows the Hub's imagefolder convention: image files plus `metadata.csv` /
`metadata.jsonl` (`file_name,text`). Downloads obey the model files' rules: the listing is
read once at a pinned commit, each file is fetched by its exact name (never a pattern), sizes
and listed sha256 are verified with one re-fetch, and the snapshot must hold exactly the plan.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from fakeimg_assets.hub_client.verified import RepoFile, unsafe_name_reason
from fakeimg_assets.real.captions import CAPTION_TABLES
from fakeimg_assets.real.photo_folder import IMAGE_SUFFIXES, RawPhoto, folder_photos


def validate_dataset_id(repo_id: str) -> str:
    """`org/name` or fail naming the bad id."""
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    if len(parts) != 2 or not all(parts) or any(p in (".", "..") for p in parts):
        raise ValueError(f"invalid Hub dataset id {repo_id!r}: expected 'org/name'")
    return repo_id


def plan_dataset_files(
    siblings: list[Any], *, suffixes: Sequence[str] = IMAGE_SUFFIXES,
    names: Sequence[str] = CAPTION_TABLES,
) -> tuple[list[RepoFile], list[str]]:
    """Files to fetch (data files by `suffixes`, default images; side files by base `names`,
    default caption tables) and the names refused (unsafe names)."""
    files, refused = [], []
    for s in siblings:
        path = s.rfilename
        base = PurePosixPath(path).name
        if PurePosixPath(path).suffix.lower() not in suffixes and base not in names:
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


def dataset_snapshot(
    hub: Any, repo_id: str, *, suffixes: Sequence[str] = IMAGE_SUFFIXES,
    names: Sequence[str] = CAPTION_TABLES,
) -> tuple[Path, str, list[str]]:
    """Fetch a dataset repo's data files (by `suffixes`, default images) and side files (by
    base `names`, default caption tables), verified, through the Hub resource's checked
    client (`hub_client`); (folder, commit, refused)."""
    repo_id = validate_dataset_id(repo_id)
    info = hub.repo_info(repo_id, repo_type="dataset")  # id, sha and listing checked
    revision = info.sha
    files, refused = plan_dataset_files(list(info.siblings or []), suffixes=suffixes, names=names)
    if not any(PurePosixPath(f.path).suffix.lower() in suffixes for f in files):
        what = "image files" if tuple(suffixes) == IMAGE_SUFFIXES else "data files"
        raise ValueError(f"Hub dataset {repo_id} holds no {what} ({', '.join(suffixes)})")
    total = sum(f.size for f in files)
    if total > hub.max_download_bytes:
        raise ValueError(
            f"Hub dataset {repo_id}: {total} bytes to fetch exceed max_download_bytes "
            f"{hub.max_download_bytes}"
        )
    snapshot = hub.download(repo_id, revision, files, repo_type="dataset")
    return snapshot, str(revision), refused


def dataset_photos(hub: Any, repo_id: str) -> Iterator[RawPhoto]:
    """Every image of the dataset repo with its caption, one at a time; refused names yield
    an error photo. The snapshot's files are symlinks into the repo's cache folder: nothing
    outside that folder is read."""
    snapshot, _, refused = dataset_snapshot(hub, repo_id)
    yield from folder_photos(snapshot, within=snapshot.parent.parent)  # datasets--org--name
    for path in refused:
        yield RawPhoto(path, "", b"", error=f"unsafe file name: {unsafe_name_reason(path)}")
