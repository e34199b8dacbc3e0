"""A pipeline's torch components, sized before any of them is instantiated.

Two checks run on every load (in the run and in the warm worker), after the verified
download and before `from_pretrained` allocates a byte:

- **Memory budget.** Every torch component the model index names (text encoders, the
  unet/transformer, the VAE, priors, ...) is built from its `config.json` on the `meta`
  device, where parameters have shapes but no storage; their count, times the bytes per
  element of the load dtype, plus a LoRA adapter's tensors, must fit the budget
  (`ComputeResource.max_model_bytes`, else a share of the device's memory). A 200 KB repo
  whose config declares a 300M-parameter encoder is refused here instead of killing the
  run or the warm worker.
- **Weights cover the config.** The parameter names and shapes of that meta model are
  compared with the tensor index of the component's safetensors files (their JSON header
  only), through the same key renamings transformers and diffusers apply when loading.
  transformers fills a parameter missing from the checkpoint with random values and only
  warns, so without this a repo could be sampled with random weights and recorded as data.

Both refusals are `ResourceLimitError`/`IncompleteWeightsError`: permanent, named.
Single-file checkpoints hold their own original-format key names, so only their budget is
checked (from the base's configs).
"""

from __future__ import annotations

import importlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakeimg_assets.hub_client.offline import hub_offline
from fakeimg_assets.lib.errors import ResourceLimitError
from fakeimg_assets.sampling.types import IncompleteWeightsError

MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own reader refuses headers over 100 MB
CPU_BUDGET_FRACTION = 0.75  # of the machine's (or the cgroup's) memory
CUDA_BUDGET_FRACTION = 0.90  # of the device's memory


@dataclass(frozen=True)
class ComponentSize:
    """One torch component: its class, parameters, and the bytes they take in the dtype."""

    name: str
    class_name: str
    parameters: int


def safetensors_index(path: Path) -> dict[str, tuple[int, ...]]:
    """`{tensor name: shape}` from a safetensors file's JSON header (no tensor is read)."""
    if not path.is_file():
        raise IncompleteWeightsError(f"{path.name}: planned weights file is not on disk")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise IncompleteWeightsError(f"{path.name} is {size} bytes: not a safetensors file")
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise IncompleteWeightsError(
                f"{path.name}: safetensors header of {length} bytes in a {size}-byte file"
            )
        try:
            header = json.loads(f.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IncompleteWeightsError(f"{path.name}: unreadable safetensors header: {exc}") from exc
    if not isinstance(header, dict):
        raise IncompleteWeightsError(f"{path.name}: safetensors header is not a JSON object")
    out: dict[str, tuple[int, ...]] = {}
    data_end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not isinstance(shape, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
        ):
            raise IncompleteWeightsError(f"{path.name}: tensor {name!r} has shape {shape!r}")
        offsets = entry.get("data_offsets")
        if isinstance(offsets, list) and len(offsets) == 2 and all(
                isinstance(n, int) and not isinstance(n, bool) for n in offsets):
            data_end = max(data_end, offsets[1])
        out[name] = tuple(shape)
    held = size - 8 - length
    if data_end != held:  # an interrupted upload: the header promises bytes the file lacks
        raise IncompleteWeightsError(
            f"{path.name}: truncated or padded upload: its header declares {data_end} bytes "
            f"of tensor data, the file holds {held}"
        )
    return out


def numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def component_class(library: str, class_name: str, pipeline_class: str) -> type | None:
    """The class a model index names, resolved like diffusers' loader: the library's top
    level, else the pipeline's own package (e.g. `WuerstchenPrior`, Kolors' ChatGLM)."""
    if library == "transformers":
        import transformers

        return getattr(transformers, class_name, None)
    import diffusers

    found = getattr(diffusers, class_name, None)
    if found is not None:
        return found
    pipeline = getattr(diffusers, pipeline_class, None)
    if pipeline is None:
        return None
    package = pipeline.__module__.rsplit(".", 1)[0]
    return getattr(importlib.import_module(package), class_name, None)


def meta_model(cls: type, folder: Path) -> Any:
    """`cls` built from `folder/config.json` on the meta device (shapes, no storage)."""
    import diffusers
    import torch

    if issubclass(cls, diffusers.ModelMixin):
        from accelerate import init_empty_weights

        config = cls.load_config(str(folder))
        with init_empty_weights():
            return cls.from_config(config)
    config = cls.config_class.from_pretrained(str(folder))
    with torch.device("meta"):
        return cls._from_config(config)


def torch_components(plan: Any, folder: Path) -> list[tuple[str, Any]]:
    """(name, meta model) of each torch component the plan loads from `folder`."""
    import torch


    out = []
    for name, (library, class_name) in sorted(plan.components.items()):
        cls = component_class(library, class_name, plan.pipeline_class)
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
            continue  # tokenizers, schedulers, processors: no parameters
        try:
            with hub_offline():
                out.append((name, meta_model(cls, folder / name)))
        except Exception as exc:  # noqa: BLE001 - unsizable means unloadable: refused, named
            raise IncompleteWeightsError(
                f"component {name!r} ({class_name}) cannot be sized from {name}/config.json: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return out


def parameter_groups(model: Any) -> list[tuple[tuple[int, ...], list[str]]]:
    """(shape, every name) of each distinct parameter: tied weights are one group."""
    groups: dict[int, tuple[tuple[int, ...], list[str]]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(p), (tuple(p.shape), []))[1].append(name)
    return list(groups.values())


def loaded_names(model: Any, names: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Checkpoint names as the library renames them on load (transformers' conversion
    mappings and base-model prefix; diffusers' deprecated attention names)."""
    import diffusers

    if isinstance(model, diffusers.ModelMixin):
        fix = getattr(model, "_fix_state_dict_keys_on_load", None)
        return dict(fix(dict(names))) if fix is not None else dict(names)
    from transformers.conversion_mapping import get_model_conversion_mapping
    from transformers.core_model_loading import WeightConverter, WeightRenaming, rename_source_key

    transforms = get_model_conversion_mapping(model)
    renamings = [t for t in transforms if isinstance(t, WeightRenaming)]
    converters = [t for t in transforms if isinstance(t, WeightConverter)]
    state = model.state_dict()
    out: dict[str, tuple[int, ...]] = {}
    for key, shape in names.items():
        renamed, converted = rename_source_key(
            key, renamings, converters, model.base_model_prefix, state
        )
        out[renamed] = () if converted else shape  # a converter merges tensors: name only
    return out


def check_covered(name: str, model: Any, files: list[Path]) -> None:
    """Every parameter of `model` is in the files, with its shape, else refused."""
    stored: dict[str, tuple[int, ...]] = {}
    for f in files:
        try:
            stored.update(safetensors_index(f))
        except IncompleteWeightsError as exc:
            raise IncompleteWeightsError(f"component {name!r}: {exc}") from exc
    if not files:
        raise IncompleteWeightsError(f"component {name!r}: no safetensors weights to load")
    loaded = loaded_names(model, stored)
    missing, wrong = [], []
    for shape, names in parameter_groups(model):
        hit = next((n for n in names if n in loaded), None)
        if hit is None:
            missing.append(names[0])
        elif loaded[hit] and loaded[hit] != shape:
            wrong.append(f"{hit} {list(loaded[hit])} (config: {list(shape)})")
    if missing or wrong:
        total = len(parameter_groups(model))
        raise IncompleteWeightsError(
            f"component {name!r} ({type(model).__name__}): its weights "
            f"({', '.join(f.name for f in files)}) do not cover the parameters its config "
            f"declares: {len(missing)} of {total} missing (first: {missing[:3]}), "
            f"{len(wrong)} of another shape (first: {wrong[:2]}); loading would fill them "
            "with random values, so the model is refused"
        )


def component_files(plan: Any, folder: Path, name: str) -> list[Path]:
    """The planned safetensors files of one component (the plan's variant)."""
    return [folder / f for f in plan.files
            if f.startswith(f"{name}/") and f.endswith(".safetensors")]


def size_components(plan: Any, folder: Path, *, check_weights: bool) -> list[ComponentSize]:
    """Meta-build each torch component; with `check_weights`, refuse uncovered ones."""
    sizes = []
    for name, model in torch_components(plan, folder):
        if check_weights:
            check_covered(name, model, component_files(plan, folder, name))
        total = sum(numel(shape) for shape, _ in parameter_groups(model))
        sizes.append(ComponentSize(name, type(model).__name__, total))
    return sizes


def machine_memory_bytes() -> int:
    """Physical memory, or the cgroup's limit when the process runs in a smaller one."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


def memory_budget(device: str, configured: int | None) -> tuple[int, str]:
    """(bytes, where it came from): `configured`, else a share of the device's memory."""
    if configured is not None:
        if isinstance(configured, bool) or not isinstance(configured, int) or configured < 1:
            raise ValueError(f"max_model_bytes must be a positive integer, got {configured!r}")
        return configured, "max_model_bytes"
    if device.startswith("cuda"):
        import torch

        index = torch.device(device).index
        total = torch.cuda.get_device_properties(index or 0).total_memory
        return int(total * CUDA_BUDGET_FRACTION), f"{CUDA_BUDGET_FRACTION:.0%} of {device} memory"
    total = machine_memory_bytes()
    return int(total * CPU_BUDGET_FRACTION), f"{CPU_BUDGET_FRACTION:.0%} of machine memory"


def adapter_parameters(path: Path) -> int:
    """Parameters of a LoRA adapter file (from its header)."""
    return sum(numel(shape) for shape in safetensors_index(path).values())


def check_model_fits(prepared: Any, *, device: str, dtype: Any, max_model_bytes: int | None
                     ) -> list[ComponentSize]:
    """Size every component of a prepared model (a LoRA: its base plus the adapter; a single
    file: the base's configs) and refuse it above the budget or with uncovered weights."""
    plan = prepared.plan
    if plan.base is not None:
        sizes = size_components(plan.base.plan, prepared.base_dir,
                                check_weights=plan.kind == "lora")
        if plan.kind == "lora":
            n = adapter_parameters(prepared.local_dir / plan.base.weights_file)
            sizes.append(ComponentSize("adapter", "LoRA", n))
    else:
        sizes = size_components(plan, prepared.local_dir, check_weights=True)
    element = dtype.itemsize if hasattr(dtype, "itemsize") else 4
    needed = sum(s.parameters for s in sizes) * element
    budget, source = memory_budget(device, max_model_bytes)
    if needed > budget:
        parts = ", ".join(f"{s.name} {s.parameters / 1e6:.1f}M" for s in sizes)
        raise ResourceLimitError(
            f"{prepared.model_id}: its components need {needed / 1e9:.2f} GB in {dtype} "
            f"({parts} parameters), over the memory budget of {budget / 1e9:.2f} GB "
            f"({source}); refused before loading"
        )
    return sizes
