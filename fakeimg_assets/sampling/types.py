"""The types every sampling stage shares, at the bottom of the package: errors by stage,
what a caller asks for (`SamplingParams`, `ImageRequest`), what planning decides
(`DownloadPlan`, a derived repo's `BaseRef`, `RemoteModel`), what the download leaves
(`PreparedModel`) and what sampling returns (`SampledImage`, `SamplingRun`).

Imports nothing of the sampling stages, so each stage imports these without a cycle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakeimg_assets.hub_client.verified import RepoFile
from fakeimg_assets.lib.errors import FakeimgError

if TYPE_CHECKING:
    from fakeimg_assets.sampling.recipes import SamplingRecipe


class SamplingError(RuntimeError):
    """Sampling failed at a named stage."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"[{stage}] {message}")
        self.stage = stage


class UnsafeRepoError(FakeimgError, ValueError):
    """A repo that would need pickle, remote code or an untrusted library to load: refused."""


class UnsupportedRepoError(FakeimgError, ValueError):
    """A repo the platform cannot sample, for a reason that will not change by retrying:
    refused (a missing base, a pipeline class or adapter diffusers cannot run...)."""


class IncompleteWeightsError(FakeimgError, ValueError):
    """A component whose weights files do not hold every parameter its config declares."""


@dataclass(frozen=True)
class SamplingParams:
    """What the caller asks for; `None` means the recipe's or pipeline's default."""

    n_images: int = 8
    steps: int | None = None
    guidance_scale: float | None = None
    height: int | None = None
    width: int | None = None
    batch_size: int = 4


@dataclass(frozen=True)
class ImageRequest:
    """One image to make: fully determined by the model, its index and the prompt."""

    index: int
    prompt: str
    prompt_id: str | None
    seed: int


@dataclass
class SampledImage:
    request: ImageRequest
    png: bytes
    width: int
    height: int
    mode: str


@dataclass
class SamplingRun:
    """Result of `run`: the images plus every parameter needed to redo them."""

    model_id: str
    revision: str
    recipe: str
    pipeline_class: str
    scheduler: str
    steps: int
    guidance_scale: float
    batch_size: int
    dtype: str
    device: str
    library_versions: dict[str, str]
    # torch's intra-op thread count while sampling: CPU kernels reduce in a different
    # order at another count, so the bytes of an image depend on it
    torch_threads: int
    images: list[SampledImage] = field(default_factory=list)


@dataclass(frozen=True)
class DownloadPlan:
    """The files to fetch and what that saves against downloading the whole repo."""

    pipeline_class: str
    recipe: str
    architecture: str
    files: tuple[str, ...]
    components: dict[str, list[str]]
    variant: str | None
    downloaded_bytes: int
    repo_bytes: int
    n_repo_files: int
    skipped: tuple[str, ...] = field(default=())
    absent_components: tuple[str, ...] = field(default=())
    # the listing's view of each planned file: what the download is verified against
    expected: tuple[RepoFile, ...] = field(default=())
    # 'pipeline', or 'lora'/'single_file' with `base` the pinned base it needs
    kind: str = "pipeline"
    base: BaseRef | None = None

    def derived_columns(self) -> dict[str, Any]:
        """`model_metadata`'s kind, base revision, adapter scale and trigger words."""
        ref = self.base
        return {
            "kind": self.kind,
            "base_revision": ref.revision if ref else None,
            "adapter_scale": ref.adapter_scale if ref else None,
            "trigger_words": ref.trigger_words if ref else None,
        }

    def components_json(self) -> str:
        return json.dumps(self.components, sort_keys=True)

    def sha256_json(self) -> str:
        """`{path: sha256}` of the planned LFS files, as the listing published them."""
        return json.dumps({f.path: f.sha256 for f in self.expected if f.sha256}, sort_keys=True)


@dataclass(frozen=True)
class BaseRef:
    """The pinned base pipeline an adapter (or single-file checkpoint) needs."""

    model_id: str
    revision: str  # the base's commit sha when the derived repo was planned
    plan: DownloadPlan  # base files to fetch (lora: the pipeline; single_file: configs)
    weights_file: str  # the derived repo's adapter or checkpoint file
    adapter_scale: float | None = None
    trigger_words: str | None = None
    uncached_bytes: int = 0  # base bytes not yet in the Hub cache when planned


@dataclass
class PreparedModel:
    """A downloaded, not yet loaded, pinned revision of one model."""

    model_id: str
    revision: str
    local_dir: Path
    plan: DownloadPlan
    recipe: SamplingRecipe
    base_dir: Path | None = None  # lora/single_file: the pinned base's snapshot


@dataclass
class RemoteModel:
    info: Any
    revision: str
    model_index: dict[str, Any]
    plan: DownloadPlan
    native_px: int | None = None
