"""The Hugging Face Hub as a Dagster resource: every Hub call of the platform goes here.

Tests and the offline demo hand in a loopback endpoint; production leaves it empty and
gets `$HF_ENDPOINT` (or the real Hub). The token is read from `$HF_TOKEN` when a run
starts, never from config files in the repo.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource

from fakeimg_assets.paths import fakeimg_home, validate_model_id

if TYPE_CHECKING:
    from fakeimg_assets.sampling.verify_download import RepoFile

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


def license_from_tags(tags: list[str] | None) -> str | None:
    """The Hub exposes a repo's card license as a `license:xxx` tag."""
    for tag in tags or []:
        if tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return None


def model_row(info: Any) -> dict[str, Any]:
    """A `huggingface_hub.ModelInfo` as a `hub_models` row (without seen-at times)."""
    gated = getattr(info, "gated", None)
    return {
        "model_id": info.id,
        "author": getattr(info, "author", None) or info.id.split("/")[0],
        "sha": getattr(info, "sha", None),
        "created_at": getattr(info, "created_at", None),
        "last_modified": getattr(info, "last_modified", None),
        "downloads": getattr(info, "downloads", None),
        "likes": getattr(info, "likes", None),
        "pipeline_tag": getattr(info, "pipeline_tag", None),
        "library_name": getattr(info, "library_name", None),
        "license": license_from_tags(getattr(info, "tags", None)),
        "gated": "false" if gated in (None, False) else str(gated),
        "private": bool(getattr(info, "private", False) or False),
        "tags": list(getattr(info, "tags", None) or []),
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
    # limits checked when a model is planned (see fakeimg_assets/sampling/limits.py)
    max_download_bytes: int = 40 * 10**9
    max_text_file_bytes: int = 16 * 2**20
    max_resolution_px: int = 2048

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

    def limits(self, max_seconds: float | None = None) -> Any:
        """This resource's limits as a `SamplingLimits` (plus a partition's time budget)."""
        from fakeimg_assets.sampling.limits import SamplingLimits

        extra = {} if max_seconds is None else {"max_seconds": max_seconds}
        return SamplingLimits(
            max_download_bytes=self.max_download_bytes,
            max_text_file_bytes=self.max_text_file_bytes,
            max_resolution_px=self.max_resolution_px,
            **extra,
        )

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
    ) -> Iterator[dict[str, Any]]:
        """Newest first (for `created_at`): text-to-image diffusers models as row dicts."""
        models = self.api().list_models(
            filter=self.library,
            pipeline_tag=self.pipeline_tag,
            sort=sort,
            limit=limit,
            author=author,
            search=search,
            expand=LIST_FIELDS,
        )
        for info in models:
            yield model_row(info)

    def model_info(self, model_id: str, revision: str | None = None) -> Any:
        """Repo info with per-file sizes and LFS hashes (`files_metadata=True`).

        Retried on 429 (honouring Retry-After), 5xx, timeouts and dropped connections;
        permanent errors (404, gated, invalid id) raise at once.
        """
        from fakeimg_assets.retry import RetrySettings, call_with_retries

        repo_id = validate_model_id(model_id)
        api = self.api()
        return call_with_retries(
            lambda: api.model_info(repo_id, revision=revision, files_metadata=True),
            what=f"model_info({repo_id!r})",
            settings=RetrySettings(
                attempts=self.retry_attempts, retry_after_cap_s=self.retry_max_wait_s
            ),
        )

    def download_file(
        self, model_id: str, filename: str, revision: str, *, force: bool = False
    ) -> Path:
        """One repo file by its exact name (never a pattern), into the Hub cache."""
        from huggingface_hub import hf_hub_download

        return Path(
            hf_hub_download(
                validate_model_id(model_id),
                filename,
                revision=revision,
                cache_dir=self.resolved_cache_dir(),
                endpoint=self.resolved_endpoint(),
                token=self.auth(),
                force_download=force,
            )
        )

    def snapshot_dir(self, model_id: str, revision: str) -> Path:
        """Where the Hub cache keeps the files of one pinned revision."""
        folder = f"models--{validate_model_id(model_id).replace('/', '--')}"
        return self.resolved_cache_dir() / folder / "snapshots" / revision

    def download(self, model_id: str, revision: str, files: Sequence[RepoFile]) -> Path:
        """Fetch exactly `files` of one pinned revision, verified; returns the snapshot folder.

        Each file by exact name; size and LFS sha256 checked against the listing, a bad file
        re-fetched once, then `DownloadVerificationError`; the folder must hold exactly
        `files` afterwards.
        """
        from fakeimg_assets.sampling.verify_download import fetch_verified

        validate_model_id(model_id)
        return fetch_verified(
            lambda path, force: self.download_file(model_id, path, revision, force=force),
            list(files),
            what=f"{model_id}@{str(revision)[:8]}",
            revision=revision,
            snapshot=self.snapshot_dir(model_id, revision),
        )
