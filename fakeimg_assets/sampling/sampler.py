"""Sampling one model: `check_inputs` -> `prepare` -> `run` -> `collect`, diffusers-style.

Each step returns a small dataclass so a failure names its stage, and so regeneration of a
single image from its warehouse row reuses exactly the code that made it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakeimg_assets.paths import derive_seed, validate_model_id
from fakeimg_assets.sampling.download_plan import DownloadPlan
from fakeimg_assets.sampling.recipes import SamplingRecipe, get_recipe


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


def check_inputs(model_index: dict[str, Any], plan: DownloadPlan, params: SamplingParams) -> None:
    """Refuse bad parameters before any download."""
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
    if model_index.get("_class_name") != plan.pipeline_class:
        raise SamplingError("check_inputs", "model_index.json changed since the download plan")


def prepare(
    model_id: str,
    revision: str,
    plan: DownloadPlan,
    download: Callable[[str, str, list[str]], Path],
) -> PreparedModel:
    """Download exactly the planned files of the pinned revision."""
    try:
        local_dir = download(model_id, revision, list(plan.files))
    except Exception as exc:  # noqa: BLE001 - re-raised with its stage
        raise SamplingError("download", f"{type(exc).__name__}: {exc}") from exc
    missing = [f for f in plan.files if not (local_dir / f).exists()]
    if missing:
        raise SamplingError("download", f"files missing after download: {missing[:5]}")
    return PreparedModel(model_id, revision, local_dir, plan, get_recipe(plan.recipe))


def load_pipeline(prepared: PreparedModel, *, device: str, dtype: Any) -> Any:
    """`from_pretrained` on the local snapshot: safetensors only, no remote code."""
    import diffusers

    recipe = prepared.recipe
    cls = getattr(diffusers, prepared.plan.pipeline_class, None)
    if cls is None:
        raise SamplingError(
            "load", f"diffusers {diffusers.__version__} has no {prepared.plan.pipeline_class}"
        )
    index = json.loads((prepared.local_dir / "model_index.json").read_text())
    kwargs: dict[str, Any] = dict(recipe.load_kwargs)
    for name in recipe.skip_components:
        if name in index:
            kwargs[name] = None
    for name in (*prepared.plan.absent_components, *recipe.optional_components):
        if name not in prepared.plan.components:
            kwargs[name] = None
    if "requires_safety_checker" in kwargs and "safety_checker" not in index:
        kwargs.pop("requires_safety_checker")
    try:
        pipe = cls.from_pretrained(
            str(prepared.local_dir),
            dtype=dtype,
            use_safetensors=True,
            variant=prepared.plan.variant,
            local_files_only=True,
            **kwargs,
        )
        pipe = pipe.to(device)
    except Exception as exc:  # noqa: BLE001 - re-raised with its stage
        raise SamplingError("load", f"{type(exc).__name__}: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(
    pipe: Any,
    prepared: PreparedModel,
    requests: Sequence[ImageRequest],
    params: SamplingParams,
    *,
    device: str,
    dtype: Any,
) -> SamplingRun:
    """Sample every request in batches; each image has its own seeded CPU generator.

    Per-image generators make an image depend on its own seed, not on its batch mates,
    up to the numerics of the batch size, which is recorded.
    """
    import torch

    recipe = prepared.recipe
    steps = params.steps or recipe.default_steps
    guidance = recipe.default_guidance if params.guidance_scale is None else params.guidance_scale
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
    for start in range(0, len(requests), params.batch_size):
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
    if params.height:
        call["height"] = params.height
    if params.width:
        call["width"] = params.width
    try:
        with torch.inference_mode():
            out = pipe(
                prompt=[r.prompt for r in batch],
                num_inference_steps=steps,
                guidance_scale=guidance,
                generator=generators,
                output_type="pil",
                **call,
            )
    except Exception as exc:  # noqa: BLE001 - re-raised with its stage
        raise SamplingError("sample", f"{type(exc).__name__}: {exc}") from exc
    for request, image in zip(batch, out.images, strict=True):
        image = image.convert("RGB")
        yield SampledImage(request, encode_png(image), image.width, image.height, image.mode)
