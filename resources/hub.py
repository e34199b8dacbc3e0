"""The Hugging Face Hub as a Dagster resource: every Hub call of the platform goes here.

Tests and the offline demo hand in a loopback endpoint; production leaves it empty and
gets `$HF_ENDPOINT` (or the real Hub). The token is read from `$HF_TOKEN` when a run
starts, never from config files in the repo.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource

from fakeimg_assets.catalog.listing import vet_entry
from fakeimg_assets.hub_client.answers import (
    check_repo_info,
    sha256s_from_siblings,
    sizes_from_siblings,
)
from fakeimg_assets.hub_client.cache_writer import download_to_cache, snapshot_folder
from fakeimg_assets.hub_client.verified import RepoFile, fetch_verified
from fakeimg_assets.lib.paths import fakeimg_home, validate_model_id
from fakeimg_assets.lib.retry import RetrySettings, call_with_retries
from fakeimg_assets.lib.times import parse_time

if TYPE_CHECKING:
    from fakeimg_assets.catalog.listing import ListingReject
    from fakeimg_assets.hub_client.verified import RepoFile

DEFAULT_ENDPOINT = "https://huggingface.co"
LIST_FIELDS = [
    "author",
    "sha",
    "createdAt",
    "lastModified",
    "downloads",
    "likes",
    "pipeline_tag",
    "library_name",
    "tags",
    "gated",
    "private",
]
# `list_models`' sort names -> the API's (huggingface_hub 2.4 maps them the same way)
_LIST_SORTS = {"created_at": "createdAt", "last_modified": "lastModified",
               "trending_score": "trendingScore"}  # fmt: skip
logger = logging.getLogger(__name__)


def license_from_tags(tags: list[str] | None) -> str | None:
    """The Hub exposes a repo's card license as a `license:xxx` tag."""
    for tag in tags or []:
        if tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return None


def model_row(entry: dict[str, Any]) -> dict[str, Any]:
    """One vetted `GET /api/models` entry (`catalog/listing.py`) as a `hub_models` row
    (without seen-at times)."""

    gated = entry.get("gated")
    tags = list(entry.get("tags") or [])
    return {
        "model_id": entry["id"],
        "author": entry.get("author") or entry["id"].split("/")[0],
        "sha": entry.get("sha"),
        "created_at": parse_time(entry.get("createdAt") or entry.get("created_at")),
        "last_modified": parse_time(entry.get("lastModified") or entry.get("last_modified")),
        "downloads": entry.get("downloads"),
        "likes": entry.get("likes"),
        "pipeline_tag": entry.get("pipeline_tag"),
        "library_name": entry.get("library_name"),
        "license": license_from_tags(tags),
        "gated": "false" if gated in (None, False) else str(gated),
        "private": bool(entry.get("private") or False),
        "tags": tags,
    }


class HubResource(ConfigurableResource):
    """Hub client settings. Empty fields are resolved from the environment at run time."""

    endpoint: str | None = None
    token: str | None = None
    cache_dir: str | None = None
    pipeline_tag: str = "text-to-image"
    library: str = "diffusers"
    # model_info is not retried by huggingface_hub 2.4: bounded retries of transient errors
    retry_attempts: int = 4
    retry_max_wait_s: float = 30.0
    # limits checked when a model is planned (`sampling.limits.limits_of`)
    max_download_bytes: int = 40 * 10**9
    max_text_file_bytes: int = 16 * 2**20
    max_resolution_px: int = 2048
    # pretrained backbone weights given as local safetensors files, by Hub repo id (e.g.
    # {"timm/vit_small_patch16_384.augreg_in21k_ft_in1k": "/data/vit.safetensors"}): used
    # instead of a download (`fakeimg run --backbone-weights PATH`)
    local_weights: dict[str, str] = {}

    def resolved_endpoint(self) -> str:
        return (self.endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")

    def resolved_token(self) -> str | None:
        return self.token or os.environ.get("HF_TOKEN") or None

    def resolved_cache_dir(self) -> Path:
        """`cache_dir`, else `$HF_HUB_CACHE` (read now, not at import), else `$FAKEIMG_HOME/hf-cache`."""
        if self.cache_dir:
            return Path(self.cache_dir)
        env = os.environ.get("HF_HUB_CACHE")
        return Path(env).expanduser() if env else fakeimg_home() / "hf-cache"

    def auth(self) -> str | bool:
        """The configured token, else False: `None` would fall back to a stored login."""
        return self.resolved_token() or False

    def api(self) -> Any:
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.resolved_endpoint(), token=self.auth())

    def list_text_to_image_models(
        self,
        *,
        sort: str = "created_at",
        limit: int | None = None,
        author: str | None = None,
        search: str | None = None,
        on_reject: Callable[[ListingReject], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Newest first (for `created_at`): text-to-image diffusers models as row dicts.

        Pages like `HfApi.list_models` (same query, `Link` paging, retries), but reads each
        entry as JSON and vets it first (`catalog/listing.py`): an entry that is unsafe to
        use (an id that is no `org/name`, a sha that is not 40 hex, a bad time...) goes to
        `on_reject` (logged when None) and is never yielded; the listing carries on.
        `limit` counts entries, refused ones included.
        """
        from huggingface_hub.utils import build_hf_headers, paginate


        params: dict[str, Any] = {
            "filter": [self.library],
            "pipeline_tag": self.pipeline_tag,
            "sort": _LIST_SORTS.get(sort, sort),
            "expand": LIST_FIELDS,
        }
        params.update({k: v for k, v in (("author", author), ("search", search),
                                         ("limit", limit)) if v})  # fmt: skip
        entries: Iterator[Any] = iter(paginate(
            f"{self.resolved_endpoint()}/api/models", params=params,
            headers=build_hf_headers(token=self.auth()),
        ))
        if limit is not None:
            entries = islice(entries, limit)
        for entry in entries:
            reject = vet_entry(entry)
            if reject is None:
                yield model_row(entry)
            elif on_reject is not None:
                on_reject(reject)
            else:
                logger.warning("refused listing entry %r: %s", reject.raw_id, reject.reason)

    def model_info(self, model_id: str, revision: str | None = None) -> Any:
        """A model repo's checked info (`repo_info`)."""
        return self.repo_info(model_id, revision=revision)

    def repo_info(self, repo_id: str, *, repo_type: str = "model",
                  revision: str | None = None) -> Any:
        """Repo info with per-file sizes and LFS hashes (`files_metadata=True`), checked.

        Retried on 429 (honouring Retry-After), 5xx, timeouts and dropped connections;
        permanent errors (404, gated, invalid id) raise at once. The answer must name the
        repo asked for, a 40-hex `sha` (the one asked for, when `revision` is a sha) and a
        sane file listing, else `HubAnswerError` (hub_client/answers.py).
        """

        repo_id = validate_model_id(repo_id)  # datasets follow the same naming rules
        api = self.api()
        call = {"model": api.model_info, "dataset": api.dataset_info}.get(repo_type)
        if call is None:
            raise ValueError(f"repo_type must be 'model' or 'dataset', got {repo_type!r}")
        what = f"{call.__name__}({repo_id!r})"
        info = call_with_retries(
            lambda: call(repo_id, revision=revision, files_metadata=True),
            what=what,
            settings=RetrySettings(
                attempts=self.retry_attempts, retry_after_cap_s=self.retry_max_wait_s
            ),
        )
        return check_repo_info(info, repo_id, revision=revision, what=what)

    def download_file(
        self, model_id: str, filename: str, revision: str, *, force: bool = False,
        expected_size: int | None = None, repo_type: str = "model",
    ) -> Path:
        """One repo file of a pinned revision (a 40-hex sha) by its exact name, through
        fakeimg's cache writer (never `hf_hub_download`, which trusts the endpoint's headers)."""

        return download_to_cache(
            endpoint=self.resolved_endpoint(), token=self.auth(),
            cache_dir=self.resolved_cache_dir(), repo_id=validate_model_id(model_id),
            filename=filename, revision=revision, force=force, expected_size=expected_size,
            repo_type=repo_type,
        )

    def snapshot_dir(self, model_id: str, revision: str, repo_type: str = "model") -> Path:
        """Where the Hub cache keeps the files of one pinned revision."""

        return snapshot_folder(self.resolved_cache_dir(), repo_type, model_id, revision)

    def download(self, model_id: str, revision: str, files: Sequence[RepoFile],
                 *, repo_type: str = "model") -> Path:
        """Fetch exactly `files` of one pinned revision, verified; returns the snapshot folder.

        Each file by exact name; size and LFS sha256 checked against the listing, a bad file
        re-fetched once, then `DownloadVerificationError`; the folder must hold exactly
        `files` afterwards.
        """

        validate_model_id(model_id)
        sizes = {f.path: f.size for f in files}
        return fetch_verified(
            lambda path, force: self.download_file(
                model_id, path, revision, force=force, expected_size=sizes[path],
                repo_type=repo_type),
            list(files),
            what=f"{model_id}@{str(revision)[:8]}",
            revision=revision,
            snapshot=self.snapshot_dir(model_id, revision, repo_type),
        )

    def check_pretrained_weights(self, repo_id: str, filename: str = "model.safetensors") -> int:
        """The size of a repo's pretrained weights file on the endpoint, from its checked
        repo info (one metadata request, nothing downloaded); raises naming the repo, the
        file and the endpoint when it is not there."""

        return self._weights_file(repo_id, filename)[1].size

    def _weights_file(self, repo_id: str, filename: str) -> tuple[Any, RepoFile]:
        if not filename.endswith(".safetensors"):
            raise ValueError(f"pretrained weights must be safetensors, not {filename!r}")
        info = self.model_info(repo_id)
        siblings = getattr(info, "siblings", None) or []
        sizes = sizes_from_siblings(siblings)
        if filename not in sizes:
            raise FileNotFoundError(
                f"{repo_id} at {self.resolved_endpoint()} has no {filename} (files: "
                f"{', '.join(sorted(sizes)[:8])}); give the backbone's weights as a local file"
            )
        return info, RepoFile(filename, sizes[filename],
                              sha256s_from_siblings(siblings).get(filename))

    def pretrained_weights(self, repo_id: str, filename: str = "model.safetensors") -> Path:
        """One safetensors weights file of a repo's current revision (timm backbones' weights:
        `timm/<name>`), fetched and verified like model files; timm then loads it from disk
        instead of calling `hf_hub_download` itself. A file given in `local_weights` for the
        repo is checked (a readable safetensors file) and used instead."""

        if repo_id in self.local_weights:
            from fakeimg_assets.lib.arg_checks import check_safetensors_file

            return Path(check_safetensors_file(self.local_weights[repo_id]))
        info, wanted = self._weights_file(repo_id, filename)
        return self.download(repo_id, info.sha, [wanted]) / filename
