"""Publishing an export to a Hub endpoint (`fakeimg export DIR --push REPO`).

huggingface_hub 2.x has no `upload_large_folder` any more: its resumable, multi-commit
successor is `HfApi.upload_folder`'s streamed pipeline, which uploads through Xet storage
whenever `hf_xet` is installed. An endpoint without Xet storage (the local Hub server, an
LFS-only mirror) cannot take that, and the client does not fall back by itself. So the push
asks the endpoint for a Xet write token first:
- granted: `upload_folder` (Xet, resumable, batched commits);
- refused (404): the git-LFS route, `create_commit` in batches of `COMMIT_FILES` files with
  each file given as an open file object, for which the client uses the LFS batch API with
  the basic transfer (a PUT per file, checked by sha256 on the server).
Either way the repo is created first (`exist_ok`), remote shards the export no longer has
are deleted, and every file is checked against SHA256SUMS before anything is sent.
The repo id is validated and the token required before any work.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from fakeimg_assets.export.checksums import listed_files, verify_sums
from fakeimg_assets.lib.paths import model_id_problem, shown_id

DEFAULT_ENDPOINT = "https://huggingface.co"
COMMIT_FILES = 100  # files per commit on the LFS route


@dataclass(frozen=True)
class PushTarget:
    repo_id: str
    endpoint: str
    token: str


@dataclass(frozen=True)
class PushReport:
    repo_id: str
    endpoint: str
    transfer: str  # 'xet' or 'lfs'
    files: int
    bytes: int
    commits: int
    seconds: float
    commit: str | None


def validate_repo_id(repo_id: object) -> str:
    """A Hub dataset repo id `org/name`, or ValueError naming it and the rule broken."""
    problem = model_id_problem(repo_id)
    if problem:
        raise ValueError(f"invalid --push repo id {shown_id(repo_id)}: {problem}; expected "
                         "'org/name' of letters, digits, '-', '_' or '.' (no '--' or '..', "
                         "not ending in '.git')")
    return str(repo_id)


def push_target(repo_id: str, *, endpoint: str | None = None,
                token: str | None = None) -> PushTarget:
    """Everything a push needs, checked before any work: repo id, endpoint, token
    (`$HF_ENDPOINT` and `$HF_TOKEN` when not given)."""
    repo = validate_repo_id(repo_id)
    url = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"HF_ENDPOINT {url!r} is not an http(s) URL")
    tok = token or os.environ.get("HF_TOKEN") or ""
    if not tok:
        raise ValueError("--push needs a write token in the HF_TOKEN environment variable")
    return PushTarget(repo, url, tok)


def xet_write_available(target: PushTarget) -> bool:
    """Whether the endpoint grants a Xet write token for the repo (and hf_xet is here)."""
    from importlib.util import find_spec

    from huggingface_hub.utils import build_hf_headers, get_session

    if find_spec("hf_xet") is None:
        return False
    url = f"{target.endpoint}/api/datasets/{target.repo_id}/xet-write-token/main"
    resp = get_session().get(url, headers=build_hf_headers(token=target.token))
    return resp.status_code == 200


class _ChosenFallback(logging.Filter):
    """Drops the client's warning that file objects skip Xet: on the LFS route that is the
    point, and the warning would read like a fault to the user."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "not supported by Xet Storage" not in record.getMessage()


def push_dataset(folder: Path, target: PushTarget, *,
                 log: Callable[[str], None] = lambda _m: None) -> PushReport:
    """Publish the export in `folder` to `target` (see module doc)."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    problems = verify_sums(folder)
    if problems:
        raise ValueError(f"{folder} does not match its SHA256SUMS, refusing to push: "
                         + "; ".join(problems[:5]))
    files = listed_files(folder) + ["SHA256SUMS"]
    size = sum((folder / f).stat().st_size for f in files)
    t0 = time.perf_counter()
    api = HfApi(endpoint=target.endpoint, token=target.token)
    api.create_repo(target.repo_id, repo_type="dataset", exist_ok=True)
    remote = set(api.list_repo_files(target.repo_id, repo_type="dataset"))
    stale = sorted(f for f in remote if f.startswith("data/") and f not in files)
    message = f"fakeimg export ({len(files)} files)"
    if xet_write_available(target):
        transfer = "xet"
        info = api.upload_folder(repo_id=target.repo_id, repo_type="dataset",
                                 folder_path=folder, commit_message=message,
                                 delete_patterns=stale or None)
        commits = 1
    else:
        transfer = "lfs"
        quiet = _ChosenFallback()
        commit_log = logging.getLogger("huggingface_hub._commit_api")
        commit_log.addFilter(quiet)
        try:
            commits, info = _lfs_commits(api, folder, files, stale, target, message, log)
        finally:
            commit_log.removeFilter(quiet)
    seconds = time.perf_counter() - t0
    report = PushReport(target.repo_id, target.endpoint, transfer, len(files), size, commits,
                        seconds, getattr(info, "oid", None))
    log(f"pushed {report.files} files ({size / 1e6:.1f} MB) to {target.endpoint} dataset "
        f"{target.repo_id} over {transfer} in {seconds:.1f} s")
    return report


def _lfs_commits(api, folder: Path, files: list[str], stale: list[str], target: PushTarget,
                 message: str, log: Callable[[str], None]) -> tuple[int, object]:
    """`create_commit` per `COMMIT_FILES` files, each an open file (the LFS basic route)."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    commits, info = 0, None
    for start in range(0, len(files), COMMIT_FILES):
        batch = files[start:start + COMMIT_FILES]
        with ExitStack() as stack:
            ops: list = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=stack.enter_context(
                open(folder / f, "rb"))) for f in batch]
            if start == 0:
                ops += [CommitOperationDelete(path_in_repo=f) for f in stale]
            info = api.create_commit(target.repo_id, ops, repo_type="dataset",
                                     commit_message=message if start == 0 else
                                     f"{message} (part {commits + 1})")
        commits += 1
        log(f"pushed {min(start + COMMIT_FILES, len(files))}/{len(files)} files")
    return commits, info
