"""The sample stage: prompts and seeds for a model, checked parameters, then every request
drawn in batches with its own seeded generator, as PNG bytes with no metadata.

Every parameter that decides the pixels is returned with the images (`SamplingRun`), so a
single image is regenerated from its warehouse row by exactly this code (`regenerate.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from fakeimg_assets.lib.paths import derive_seed, validate_model_id
from fakeimg_assets.lib.png import encode_png
from fakeimg_assets.lib.progress import RateMeter
from fakeimg_assets.sampling.limits import Deadline, SamplingLimits, check_requested_size
from fakeimg_assets.sampling.recipes import SamplingRecipe
from fakeimg_assets.sampling.types import (
    DownloadPlan,
    ImageRequest,
    PreparedModel,
    SampledImage,
    SamplingError,
    SamplingParams,
    SamplingRun,
)


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




def sample_images(
    pipe: Any,
    prepared: PreparedModel,
    requests: Sequence[ImageRequest],
    params: SamplingParams,
    *,
    device: str,
    dtype: Any,
    deadline: Deadline | None = None,
    on_progress: Callable[[str], None] | None = None,
    recorded_batch: bool = False,
) -> SamplingRun:
    """Sample every request in batches; each image has its own seeded CPU generator.

    Per-image generators make an image depend on its own seed, not on its batch mates,
    up to the numerics of the batch size, which is recorded. With a `deadline`, sampling
    stops between batches once the partition's time budget is spent (ResourceLimitError).
    After each batch a rate and ETA line goes to `on_progress` (default: the progress
    module's logger): `sampled 8/16 images, 3.2 img/s, ETA 2.5 s`.
    The batch is the requested one within the recipe's limits (`batch_size_for`);
    `recorded_batch` (regeneration) keeps a recorded batch as it was on a CPU too.
    """
    import torch

    requests = with_trigger_words(requests, prepared.plan)  # LoRA: the card's trigger words
    recipe = prepared.recipe
    if params.height is None and params.width is None and recipe.native_size is not None:
        size = recipe.native_size(prepared.base_dir or prepared.local_dir)  # from its configs
        params = replace(params, height=size, width=size) if size else params
    batch_size = batch_size_for(recipe, params.batch_size, device, recorded=recorded_batch)
    if batch_size != params.batch_size:
        params = replace(params, batch_size=batch_size)
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
        torch_threads=torch.get_num_threads(),
    )
    n_batches = -(-len(requests) // params.batch_size)
    meter = RateMeter(len(requests), verb="sampled", unit="images", short="img", log=on_progress)
    for k, start in enumerate(range(0, len(requests), params.batch_size)):
        if deadline is not None:
            deadline.check(f"{k} of {n_batches} batches sampled")
        batch = list(requests[start : start + params.batch_size])
        for sampled in _run_batch(pipe, recipe, batch, steps, guidance, params, torch):
            result.images.append(sampled)
        meter.update(len(batch))
    return result


def batch_size_for(recipe: SamplingRecipe, requested: int, device: str, *,
                   recorded: bool = False) -> int:
    """The batch a recipe samples at on `device`: the requested one, capped by the
    pipeline's own limit (`max_batch`) and, on a CPU, by the largest batch that pays there
    (`cpu_max_batch`). A `recorded` batch (regenerating images as they were sampled) keeps
    its size wherever the pipeline allows it: a batch's numerics are part of its images."""
    size = requested
    if recipe.max_batch and size > recipe.max_batch:
        size = recipe.max_batch
    on_cpu = device.split(":")[0] == "cpu"
    if recipe.cpu_max_batch and on_cpu and not recorded and size > recipe.cpu_max_batch:
        size = recipe.cpu_max_batch
    return size


def with_trigger_words(requests: Sequence[ImageRequest], plan: DownloadPlan) -> list[ImageRequest]:
    """Requests whose prompts start with the adapter's trigger words (unchanged otherwise).

    Idempotent: a recorded prompt (regeneration) already starts with them and is kept as is.
    """
    words = getattr(plan.base, "trigger_words", None)
    if plan.kind != "lora" or not words:
        return list(requests)
    prefix = f"{words}, "
    return [r if r.prompt.startswith(prefix) else replace(r, prompt=prefix + r.prompt)
            for r in requests]


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
