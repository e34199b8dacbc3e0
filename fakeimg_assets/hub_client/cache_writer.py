"""Files into the Hub cache through fakeimg's own writer, never through the endpoint's names.

huggingface_hub's `hf_hub_download` derives cache paths from what the endpoint answers
(`refs/<revision>` holding `X-Repo-Commit`, `blobs/<ETag>`, `snapshots/<X-Repo-Commit>/`),
so a lying endpoint writes outside the cache (`answers.py`). This writer keeps the same
layout, so everything that reads the cache is unchanged, but every path component is one
fakeimg validated before the first request:

    <cache>/<type>s--<org>--<name>/blobs/<hash of the bytes received>
    <cache>/<type>s--<org>--<name>/snapshots/<pinned 40-hex sha>/<planned file name>  -> blob

The endpoint's answers are checked, not used as names: `X-Repo-Commit` must be the pinned
sha, the ETag a git sha1 or sha256, the size the listed size. The body streams into a
private temp file capped at that size, and is hashed; the blob is renamed into place only
when its hash equals the ETag, so a blob's name is always the hash of its bytes. No
`refs/` file, no `.no_exist` marker and no tree cache is ever written.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import urlsplit

from fakeimg_assets.hub_client.answers import (
    SHA256_RE,
    HubAnswerError,
    check_commit,
    check_etag,
    check_size,
)
from fakeimg_assets.hub_client.verified import unsafe_name_reason
from fakeimg_assets.lib.errors import DownloadVerificationError
from fakeimg_assets.lib.leftovers import remove_stale_temp_files, writer_id
from fakeimg_assets.lib.paths import validate_model_id

REPO_TYPES = ("model", "dataset")
CHUNK = 1 << 20
BODY_IDLE_S = 600.0  # a download body untouched this long is dead (reads time out in seconds)


class BodyMismatchError(DownloadVerificationError):
    """A body whose bytes do not hash to its ETag (a corrupt transfer, or a lie): worth one
    re-fetch (`verified.fetch_verified`), then permanent."""

    refetch = True


def repo_folder(cache_dir: Path, repo_type: str, repo_id: str) -> Path:
    """`<cache>/models--org--name` (the Hub cache's folder name) of a validated id."""
    if repo_type not in REPO_TYPES:
        raise ValueError(f"repo type must be one of {REPO_TYPES}, got {repo_type!r}")
    return Path(cache_dir) / f"{repo_type}s--{validate_model_id(repo_id).replace('/', '--')}"


def snapshot_folder(cache_dir: Path, repo_type: str, repo_id: str, revision: str) -> Path:
    """Where one pinned revision's files are linked (revision: a 40-hex sha)."""
    check_commit(revision, field="revision", what=f"{repo_id}")
    return repo_folder(cache_dir, repo_type, repo_id) / "snapshots" / revision


class _CappedFile:
    """The temp file `http_get` writes into, refusing bytes past the announced size (an
    endpoint that streams forever fills no disk)."""

    def __init__(self, handle: BinaryIO, cap: int, what: str) -> None:
        self.handle, self.cap, self.what = handle, cap, what

    def write(self, data: bytes) -> int:
        if self.handle.tell() + len(data) > self.cap:
            raise HubAnswerError(
                f"{self.what}: the endpoint sent more than the {self.cap} bytes it announced"
            )
        return self.handle.write(data)

    def tell(self) -> int:
        return self.handle.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.handle.seek(offset, whence)

    def truncate(self, size: int | None = None) -> int:
        return self.handle.truncate(size)

    def flush(self) -> None:
        self.handle.flush()


def _hashes(path: Path) -> tuple[str, str]:
    """(git blob sha1, sha256) of a file, streamed."""
    size = path.stat().st_size
    git, sha = hashlib.sha1(b"blob %d\0" % size), hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            git.update(block)
            sha.update(block)
    return git.hexdigest(), sha.hexdigest()


def _inside(path: Path, folder: Path) -> bool:
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == os.path.abspath(
        folder
    )


def _link(pointer: Path, blob: Path) -> None:
    """`pointer` -> `blob` as a relative symlink, replaced atomically."""
    pointer.parent.mkdir(parents=True, exist_ok=True)
    tmp = pointer.with_name(f".{pointer.name}.{writer_id()}.{uuid.uuid4().hex[:8]}.tmp")
    os.symlink(os.path.relpath(blob, pointer.parent), tmp)
    os.replace(tmp, pointer)


def download_to_cache(
    *,
    endpoint: str,
    token: str | bool,
    cache_dir: Path,
    repo_id: str,
    filename: str,
    revision: str,
    repo_type: str = "model",
    force: bool = False,
    expected_size: int | None = None,
    timeout_s: float = 30.0,
) -> Path:
    """One file of a pinned revision into the cache; returns its snapshot path.

    Raises `HubAnswerError` (permanent) when the endpoint's headers lie, `BodyMismatchError`
    when the bytes do not hash to the ETag (the caller re-fetches once), and the client's
    HTTP errors as they are (their transient/permanent verdict is `retry.is_transient`'s).
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    what = f"{repo_id}@{str(revision)[:8]}:{filename}"
    folder = repo_folder(cache_dir, repo_type, repo_id)
    check_commit(revision, field="revision", what=what)
    reason = unsafe_name_reason(filename)
    if reason:
        raise HubAnswerError(f"{what}: refusing to fetch file name {filename!r}: {reason}")
    pointer = folder.joinpath("snapshots", revision, *PurePosixPath(filename).parts)
    if not _inside(pointer, folder):  # unreachable after the checks above; belt and braces
        raise HubAnswerError(f"{what}: {pointer} would leave {folder}")
    if pointer.is_file() and not force:
        return pointer  # the caller verifies size and sha256 against the listing

    url = hf_hub_url(repo_id, filename, repo_type=None if repo_type == "model" else repo_type,
                     revision=revision, endpoint=endpoint)
    meta = get_hf_file_metadata(url, token=token, timeout=timeout_s, endpoint=endpoint,
                                retry_on_errors=True)
    commit = check_commit(meta.commit_hash, field="X-Repo-Commit", what=what)
    if commit != revision:
        raise HubAnswerError(
            f"{what}: asked for revision {revision}, the endpoint answered X-Repo-Commit "
            f"{commit}; refused"
        )
    etag = check_etag(meta.etag, what=what)
    location = str(meta.location or url)
    if urlsplit(location).scheme not in ("http", "https"):
        raise HubAnswerError(f"{what}: the endpoint redirected to {location[:80]!r}; refused")
    size = check_size(meta.size, field="Content-Length / X-Linked-Size", what=what)
    if expected_size is not None and size != expected_size:
        raise HubAnswerError(
            f"{what}: the listing gives {expected_size} bytes, the file answer {size}; refused"
        )
    headers = build_hf_headers(token=token)
    if urlsplit(location).netloc != urlsplit(url).netloc:
        headers.pop("authorization", None)  # a CDN never gets the token

    blobs = folder / "blobs"
    # bodies of killed downloads. The cache may be shared by several machines (a cluster's
    # $FAKEIMG_HOME/hf-cache), and a pid means something on its own machine only: this
    # machine's bodies go once their writer is dead; another machine's only when untouched
    # that long (a live download writes its body all along)
    remove_stale_temp_files(blobs, ".", exact=False, other_idle_s=BODY_IDLE_S)
    blob = blobs / etag  # a hex name: checked above
    if not force and blob.is_file() and not blob.is_symlink() and blob.stat().st_size == size:
        _link(pointer, blob)  # same bytes already fetched for another file or revision;
        return pointer  # the caller still verifies them against the listing
    blobs.mkdir(parents=True, exist_ok=True)
    tmp = blobs / f".{etag[:16]}.{writer_id()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "wb") as handle:
            http_get(location, _CappedFile(handle, size, what), headers=headers,
                     expected_size=size, displayed_filename=filename)
            handle.flush()
            os.fsync(handle.fileno())
        git_sha1, sha256 = _hashes(tmp)
        kind, got = ("sha256", sha256) if SHA256_RE.fullmatch(etag) else ("git blob id", git_sha1)
        if got != etag:
            raise BodyMismatchError(
                f"{what}: the body received does not match its ETag (a corrupt transfer or a "
                f"lying endpoint): {kind} expected {etag}, got {got}"
            )
        os.replace(tmp, blob)
    finally:
        tmp.unlink(missing_ok=True)
    _link(pointer, blob)
    return pointer
