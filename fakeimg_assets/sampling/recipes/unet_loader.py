"""A `from_pretrained` stand-in for pipelines diffusers cannot load from its own layout.

diffusers 0.42 moved Wuerstchen (and Stable Cascade's Paella VQGAN) to
`pipelines.deprecated` without exporting the models at top level, so `from_pretrained` of
the combined cascades fails on the `model_index.json` that its own `save_pretrained`
writes. `load_by_parts` builds such a pipeline from its components one by one: each class
from an explicit allow-list, safetensors only, local files only (the recipes' `load` hook).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

# Classes the by-parts loader may instantiate, by name -> module of the installed libraries
# (diffusers 0.42 exports neither PaellaVQModel nor the Wuerstchen models at top level, so
# `from_pretrained` of the cascades fails on the model_index it writes itself).
_PART_MODULES = {
    "StableCascadeUNet": "diffusers",
    "DDPMWuerstchenScheduler": "diffusers",
    "PaellaVQModel": "diffusers.pipelines.deprecated.wuerstchen",
    "WuerstchenPrior": "diffusers.pipelines.deprecated.wuerstchen",
    "WuerstchenDiffNeXt": "diffusers.pipelines.deprecated.wuerstchen",
    "CLIPTextModel": "transformers",
    "CLIPTextModelWithProjection": "transformers",
    "CLIPTokenizer": "transformers",
    "CLIPTokenizerFast": "transformers",
}


def _load_part(folder: Path, class_name: str, dtype: Any, variant: str | None) -> Any:
    """One component from its folder: safetensors only, local files only."""
    if class_name not in _PART_MODULES:
        raise ValueError(f"{folder.name}: class {class_name!r} is not loadable by parts")
    cls = getattr(import_module(_PART_MODULES[class_name]), class_name)
    if class_name.endswith(("Tokenizer", "TokenizerFast")):
        return cls.from_pretrained(str(folder), local_files_only=True)
    if class_name.endswith("Scheduler"):
        return cls.from_pretrained(str(folder))
    return cls.from_pretrained(
        str(folder), use_safetensors=True, local_files_only=True, variant=variant, dtype=dtype
    )


def load_by_parts(pipeline_class: str) -> Callable[..., Any]:
    """A `from_pretrained` stand-in that builds the pipeline from its components one by one.

    For pipelines diffusers cannot `from_pretrained` (see `_PART_MODULES`); the plan has
    allow-listed every component class already, and this loads only those classes.
    """

    def load(path: str, *, dtype: Any = None, variant: str | None = None, **kwargs: Any) -> Any:
        import diffusers

        root = Path(path)
        index = json.loads((root / "model_index.json").read_text())
        parts: dict[str, Any] = {}
        for name, spec in index.items():
            if name.startswith("_") or not isinstance(spec, list) or len(spec) != 2:
                continue
            if name in kwargs or spec[1] is None:  # skipped or absent: passed as None
                parts[name] = None
                continue
            parts[name] = _load_part(root / name, spec[1], dtype, variant)
        pipe = getattr(diffusers, pipeline_class)(**parts)
        pipe.register_to_config(_name_or_path=str(root))
        return pipe

    return load
