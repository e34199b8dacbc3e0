"""What a Hub endpoint may answer: every value that becomes a path, a revision or a file
name is checked against the Hub's documented forms before anything uses it.

Users point `HF_ENDPOINT` at mirrors and proxies they do not control, so the endpoint is as
hostile as the repos it serves. huggingface_hub 2.4 trusts it: `hf_hub_download` writes
`refs/<revision>` with the `X-Repo-Commit` header as content, names cache blobs after the
`ETag` and snapshot folders after `X-Repo-Commit`, none of them checked (NOTES.md). Here:

- a commit sha is 40 lowercase hex (`sha` of `model_info`, `X-Repo-Commit`);
- the answered repo id is the one asked for (the Hub may change its case, nothing else);
- an ETag is the file's git blob sha1 (40 hex, regular files) or its sha256 (64 hex, LFS);
- a listed file size is a non-negative integer, a listed LFS sha256 is 64 hex.

A lie is a `HubAnswerError`: permanent (retrying asks the same liar), and its message names
the field that was wrong, so the `model_failures` row says what the endpoint lied about.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fakeimg_assets.lib.errors import FakeimgError
from fakeimg_assets.lib.paths import InvalidModelIdError, validate_model_id

COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
GIT_SHA1_RE = COMMIT_RE
MAX_FILE_SIZE = 2**50  # 1 PiB: a listed size above this is not a file, it is an attack
MAX_SIBLINGS = 100_000  # files in one repo listing (the Hub's own limit per repo is lower)


class HubAnswerError(FakeimgError, ValueError):
    """The endpoint answered something the Hub never answers (a lie): permanent."""


def _show(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def check_commit(value: Any, *, field: str, what: str) -> str:
    """`value` if it is a 40-hex commit sha, else `HubAnswerError` naming `field`."""
    if not isinstance(value, str) or not COMMIT_RE.fullmatch(value):
        raise HubAnswerError(
            f"{what}: the endpoint answered {field} {_show(value)}, which is not a 40-hex "
            "commit sha; refused (a lying endpoint or mirror)"
        )
    return value


def check_etag(value: Any, *, what: str) -> str:
    """A normalised ETag (quotes and `W/` stripped) if it is a git sha1 or a sha256."""
    if not isinstance(value, str) or not (GIT_SHA1_RE.fullmatch(value) or SHA256_RE.fullmatch(value)):
        raise HubAnswerError(
            f"{what}: the endpoint answered ETag {_show(value)}, neither a 40-hex git blob id "
            "nor a 64-hex sha256; refused (a lying endpoint or mirror)"
        )
    return value


def check_size(value: Any, *, field: str, what: str) -> int:
    """A file size: a non-negative int below `MAX_FILE_SIZE`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_FILE_SIZE:
        raise HubAnswerError(
            f"{what}: the endpoint answered {field} {_show(value)}, not a file size in bytes; "
            "refused"
        )
    return value


def check_repo_id(answered: Any, asked: str, *, what: str) -> str:
    """The answered id: a valid repo id equal to the one asked for (case aside)."""
    try:
        validate_model_id(answered)
    except InvalidModelIdError:
        raise HubAnswerError(
            f"{what}: the endpoint answered repo id {_show(answered)} for {asked!r}, which is "
            "not a repo id; refused"
        ) from None
    if answered.lower() != asked.lower():
        raise HubAnswerError(
            f"{what}: asked for {asked!r}, the endpoint answered repo id {answered!r}; refused "
            "(a lying endpoint or mirror)"
        )
    return answered


def check_siblings(siblings: Any, *, what: str) -> list[Any]:
    """The listing's files: names are strings, sizes file sizes, LFS sha256s 64 hex.

    Names themselves are checked where one is planned (`unsafe_name_reason`): an odd name
    in a file the platform never fetches is no reason to refuse the repo.
    """
    items = list(siblings or [])
    if len(items) > MAX_SIBLINGS:
        raise HubAnswerError(f"{what}: the endpoint listed {len(items)} files; refused")
    for s in items:
        name = getattr(s, "rfilename", None)
        if not isinstance(name, str) or not name:
            raise HubAnswerError(f"{what}: the endpoint listed a file named {_show(name)}")
        size = getattr(s, "size", None)
        if size is not None:
            check_size(size, field=f"size of {name!r}", what=what)
        lfs = getattr(s, "lfs", None)
        sha = lfs.get("sha256") if isinstance(lfs, dict) else getattr(lfs, "sha256", None)
        if lfs is not None and not (isinstance(sha, str) and SHA256_RE.fullmatch(sha)):
            raise HubAnswerError(
                f"{what}: the endpoint listed {name!r} with LFS sha256 {_show(sha)}, not 64 hex"
            )
    return items


def check_repo_info(info: Any, asked: str, *, revision: str | None, what: str) -> Any:
    """A `ModelInfo`/`DatasetInfo` whose id, sha and file listing are sane; `revision`
    (a commit sha asked for) must be the sha answered."""
    check_repo_id(getattr(info, "id", None), asked, what=what)
    sha = check_commit(getattr(info, "sha", None), field="sha", what=what)
    if revision is not None and COMMIT_RE.fullmatch(revision) and sha != revision:
        raise HubAnswerError(
            f"{what}: asked for revision {revision}, the endpoint answered sha {sha}; refused"
        )
    check_siblings(getattr(info, "siblings", None), what=what)
    return info


def sizes_from_siblings(siblings: Iterable[object]) -> dict[str, int]:
    """`{path: size}` from `ModelInfo.siblings` fetched with `files_metadata=True`."""
    out: dict[str, int] = {}
    for s in siblings or []:
        name = getattr(s, "rfilename", None)
        if name is None:
            continue
        out[name] = int(getattr(s, "size", None) or 0)
    return out


def sha256s_from_siblings(siblings: Iterable[object]) -> dict[str, str]:
    """`{path: sha256}` of LFS files from `ModelInfo.siblings` (`files_metadata=True`)."""
    out: dict[str, str] = {}
    for s in siblings or []:
        name, lfs = getattr(s, "rfilename", None), getattr(s, "lfs", None)
        sha = lfs.get("sha256") if isinstance(lfs, dict) else getattr(lfs, "sha256", None)
        if name is not None and sha:
            out[name] = str(sha)
    return out
