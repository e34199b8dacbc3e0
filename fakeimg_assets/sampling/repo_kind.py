"""What a Hub repo is, from its file list, tags and card: pipeline, LoRA, single file, other.

Pure functions (no network, no torch), shared by planning (`lora`, `single_file`) and the
census, so a repo is counted as the same kind it is sampled as.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fakeimg_assets.hub_client.verified import unsafe_name_reason
from fakeimg_assets.sampling.plan import is_weight_file
from fakeimg_assets.sampling.types import UnsupportedRepoError

KINDS = ("pipeline", "lora", "single_file", "other")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
PREFERRED_ADAPTER = "pytorch_lora_weights.safetensors"  # what diffusers' trainers write


def card_value(card: Any, key: str) -> Any:
    """One card field from `ModelCardData` (attribute) or a plain dict."""
    if card is None:
        return None
    if isinstance(card, Mapping):
        return card.get(key)
    return getattr(card, key, None)


def card_base_model(card: Any) -> str | None:
    """The card's first declared `base_model` (a string or a list of them)."""
    value = card_value(card, "base_model")
    if isinstance(value, list | tuple):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    return value.strip() if isinstance(value, str) and value.strip() else None


def trigger_words(card: Any) -> str | None:
    """`instance_prompt` (DreamBooth-LoRA trainers), else the first widget text."""
    value = card_value(card, "instance_prompt")
    if isinstance(value, str) and value.strip():
        return value.strip()
    for item in card_value(card, "widget") or []:
        text = item.get("text") if isinstance(item, Mapping) else None
        if isinstance(text, str) and text.strip():
            return text.strip()
    return None


def _root_weights(files: Iterable[str]) -> list[str]:
    return sorted(f for f in files if "/" not in f and is_weight_file(f))


def classify_repo(files: Iterable[str], tags: Sequence[str] | None = None) -> str:
    """'pipeline', 'lora', 'single_file' or 'other', from the file list and tags only."""
    files = list(files)
    if "model_index.json" in files:
        return "pipeline"
    tags = [str(t).lower() for t in tags or []]
    root = _root_weights(files)
    if "lora" in tags or any(t.startswith("base_model:adapter:") for t in tags) or any(
        "lora" in f.lower() for f in root
    ):
        return "lora"
    if any(f.endswith((".safetensors", ".ckpt")) for f in root):
        return "single_file"
    return "other"


def pick_weights_file(model_id: str, files: Iterable[str], *, what: str) -> str:
    """The one root safetensors file of an adapter/checkpoint repo; pickle-only refused."""
    root = _root_weights(files)
    safe = [f for f in root if f.endswith(".safetensors")]
    if not safe:
        pickles = [f for f in root if f.endswith(PICKLE_SUFFIXES)]
        if pickles:
            raise UnsupportedRepoError(
                f"{model_id}: pickle-only {what}: only {', '.join(pickles)}; fakeimg never "
                "unpickles .bin/.pt/.ckpt files"
            )
        raise UnsupportedRepoError(f"{model_id}: no root .safetensors {what} file")
    if len(safe) > 1:
        if PREFERRED_ADAPTER in safe:
            return PREFERRED_ADAPTER
        raise UnsupportedRepoError(
            f"{model_id}: several root .safetensors files ({', '.join(safe)}); which one is "
            f"the {what} is ambiguous"
        )
    reason = unsafe_name_reason(safe[0])
    if reason:
        raise UnsupportedRepoError(f"{model_id}: {what} file {safe[0]!r} refused: {reason}")
    return safe[0]


def base_from_tags(tags: list[str] | None) -> str | None:
    """`a/b` from a `base_model:a/b` or `base_model:<relation>:a/b` Hub tag."""
    for tag in tags or []:
        if isinstance(tag, str) and tag.startswith("base_model:"):
            rest = tag.split(":", 1)[1]
            return rest.split(":", 1)[1] if ":" in rest else rest
    return None
