"""Sampling one model: `check_inputs` -> `prepare` -> `run` -> `collect`, diffusers-style.

Each step returns a small dataclass so a failure names its stage, and so regeneration of a
single image from its warehouse row reuses exactly the code that made it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fakeimg_assets.errors import FakeimgError
from fakeimg_assets.hub_client.verified import RepoFile
from fakeimg_assets.paths import derive_seed, validate_model_id
from fakeimg_assets.sampling.download_plan import DownloadPlan, is_weight_file
from fakeimg_assets.sampling.limits import (
    Deadline,
    SamplingLimits,
    check_requested_size,
    check_text_file_size,
)
from fakeimg_assets.sampling.loading import load_pipeline
from fakeimg_assets.sampling.recipes import SamplingRecipe, get_recipe

__all__ = ["load_pipeline"]  # re-exported: callers use sampler.load_pipeline


class SamplingError(RuntimeError):
    """Sampling failed at a named stage."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"[{stage}] {message}")
        self.stage = stage


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
class PreparedModel:
    """A downloaded, not yet loaded, pinned revision of one model."""

    model_id: str
    revision: str
    local_dir: Path
    plan: DownloadPlan
    recipe: SamplingRecipe
    base_dir: Path | None = None  # lora/single_file: the pinned base's snapshot


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
    images: list[SampledImage] = field(default_factory=list)


def image_requests(
    model_id: str, n_images: int, prompts: Sequence[tuple[str, str]]
) -> list[ImageRequest]:
    """Prompts and seeds for a model: a pure function of its id and the prompt pool.

    `prompts` is `[(prompt_id, text)]`; each model draws its own seeded order through the
    pool, so different models see different prompts but every rerun sees the same.
    """
    validate_model_id(model_id)
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    if not prompts:
        raise ValueError("the prompt pool is empty; materialize `prompts` first")
    import numpy as np

    rng = np.random.default_rng(derive_seed("prompt-order", model_id))
    order = rng.permutation(len(prompts))
    out = []
    for i in range(n_images):
        pid, text = prompts[int(order[i % len(prompts)])]
        out.append(ImageRequest(i, text, pid, derive_seed(model_id, "image", i)))
    return out


def library_versions() -> dict[str, str]:
    import diffusers
    import torch
    import transformers
    from PIL import __version__ as pil_version

    return {
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "pillow": pil_version,
    }


def encode_png(image: Any) -> bytes:
    """PNG bytes with no metadata: the same pixels always give the same bytes."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def check_inputs(
    model_index: dict[str, Any],
    plan: DownloadPlan,
    params: SamplingParams,
    limits: SamplingLimits | None = None,
) -> None:
    """Refuse bad parameters (and sizes above the resolution cap) before any download."""
    if params.n_images < 1:
        raise SamplingError("check_inputs", f"n_images must be >= 1, got {params.n_images}")
    if params.batch_size < 1:
        raise SamplingError("check_inputs", f"batch_size must be >= 1, got {params.batch_size}")
    if params.steps is not None and params.steps < 1:
        raise SamplingError("check_inputs", f"steps must be >= 1, got {params.steps}")
    for dim_name in ("height", "width"):
        dim = getattr(params, dim_name)
        if dim is not None and (dim < 8 or dim % 8):
            raise SamplingError("check_inputs", f"{dim_name} must be a multiple of 8, got {dim}")
    check_requested_size(params.height, params.width, limits or SamplingLimits())
    if model_index.get("_class_name") != plan.pipeline_class:
        raise SamplingError("check_inputs", "model_index.json changed since the download plan")


def prepare(
    model_id: str,
    revision: str,
    plan: DownloadPlan,
    download: Callable[[str, str, Sequence[RepoFile]], Path],
    limits: SamplingLimits | None = None,
) -> PreparedModel:
    """Download exactly the planned files of the pinned revision, verified against the listing.

    Limit and verification errors keep their type (permanent); others get the stage.
    """
    limits = limits or SamplingLimits()
    if not plan.expected:
        raise SamplingError("download", f"{model_id}: the plan carries no file listing")
    try:
        local_dir = download(model_id, revision, plan.expected)
        base = plan.base  # lora/single_file: the base's planned files, shared in the cache
        base_dir = download(base.model_id, base.revision, base.plan.expected) if base else None
    except FakeimgError:
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised with its stage
        raise SamplingError("download", f"{type(exc).__name__}: {exc}") from exc
    missing = [f for f in plan.files if not (local_dir / f).exists()]
    if missing:
        raise SamplingError("download", f"files missing after download: {missing[:5]}")
    for f in plan.files:  # the text caps again, on what actually landed on disk
        if not is_weight_file(f):
            check_text_file_size(model_id, f, (local_dir / f).stat().st_size, limits)
    return PreparedModel(model_id, revision, local_dir, plan, get_recipe(plan.recipe), base_dir)


def release_weights(prepared: PreparedModel) -> int:
    """Remove the model's downloaded weights from the Hub cache; returns bytes freed.

    Small JSON/tokenizer files stay; a later run (or `fakeimg regenerate`) re-downloads.
    """
    from fakeimg_assets.hub_client.verified import remove_weights

    return remove_weights(prepared.local_dir, prepared.plan.files, is_weight_file)


def run(
    pipe: Any,
    prepared: PreparedModel,
    requests: Sequence[ImageRequest],
    params: SamplingParams,
    *,
    device: str,
    dtype: Any,
    deadline: Deadline | None = None,
) -> SamplingRun:
    """Sample every request in batches; each image has its own seeded CPU generator.

    Per-image generators make an image depend on its own seed, not on its batch mates,
    up to the numerics of the batch size, which is recorded. With a `deadline`, sampling
    stops between batches once the partition's time budget is spent (ResourceLimitError).
    """
    import torch

    from fakeimg_assets.sampling.lora import with_trigger_words

    requests = with_trigger_words(requests, prepared.plan)  # LoRA: the card's trigger words
    recipe = prepared.recipe
    if params.height is None and params.width is None and recipe.native_size is not None:
        size = recipe.native_size(prepared.base_dir or prepared.local_dir)  # from its configs
        params = replace(params, height=size, width=size) if size else params
    if recipe.max_batch and params.batch_size > recipe.max_batch:  # the pipeline's own limit
        params = replace(params, batch_size=recipe.max_batch)
    steps = params.steps or recipe.default_steps
    guidance = recipe.default_guidance if params.guidance_scale is None else params.guidance_scale
    if recipe.distilled:  # few-step models sample with their own settings, whatever was asked
        steps, guidance = recipe.default_steps, recipe.default_guidance
    result = SamplingRun(
        model_id=prepared.model_id,
        revision=prepared.revision,
        recipe=recipe.name,
        pipeline_class=prepared.plan.pipeline_class,
        scheduler=type(pipe.scheduler).__name__,
        steps=steps,
        guidance_scale=float(guidance),
        batch_size=params.batch_size,
        dtype=str(dtype).replace("torch.", ""),
        device=device,
        library_versions=library_versions(),
    )
    n_batches = -(-len(requests) // params.batch_size)
    for k, start in enumerate(range(0, len(requests), params.batch_size)):
        if deadline is not None:
            deadline.check(f"{k} of {n_batches} batches sampled")
        batch = list(requests[start : start + params.batch_size])
        for sampled in _run_batch(pipe, recipe, batch, steps, guidance, params, torch):
            result.images.append(sampled)
    return result


def _run_batch(
    pipe: Any,
    recipe: SamplingRecipe,
    batch: list[ImageRequest],
    steps: int,
    guidance: float,
    params: SamplingParams,
    torch: Any,
) -> Iterator[SampledImage]:
    generators = [torch.Generator(device="cpu").manual_seed(r.seed) for r in batch]
    call: dict[str, Any] = dict(recipe.call_kwargs)
    # a cascade may name its main stage's arguments otherwise (e.g. prior_guidance_scale)
    call[recipe.call_names.get("num_inference_steps", "num_inference_steps")] = steps
    call[recipe.call_names.get("guidance_scale", "guidance_scale")] = guidance
    if params.height:
        call["height"] = params.height
    if params.width:
        call["width"] = params.width
    try:
        with torch.inference_mode():
            out = pipe(
                prompt=[r.prompt for r in batch],
                generator=generators[0] if recipe.max_batch == 1 else generators,
                output_type="pil",
                **call,
            )
    except Exception as exc:  # noqa: BLE001 - re-raised with its stage
        raise SamplingError("sample", f"{type(exc).__name__}: {exc}") from exc
    for request, image in zip(batch, out.images, strict=True):
        image = image.convert("RGB")
        yield SampledImage(request, encode_png(image), image.width, image.height, image.mode)
