"""What each field of a warm-worker message may hold (`worker_protocol.py` frames them).

A schema per carried type, written out field by field: a `SampleRequest` with its
`DownloadPlan`, a LoRA's or single file's `BaseRef` and the base's own plan (which names no
further base), the `RepoFile`s, `SamplingParams` and `ImageRequest`s; a `SampleOutcome` with
its `SamplingRun` and images (each PNG travels as its own frame, the header holds its
length); an error's names, text and verdict. Decoding is strict: a missing or unknown field,
a wrong type (a bool is not an int), a number out of range, a path that is not absolute, a
repo file name that is not an exact name, or an invalid model id is a `WorkerProtocolError`
naming the field. Only the dataclasses named here are ever built. Encoding a dataclass with
a field this module has no schema for fails loudly, so a new field cannot be silently lost.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fakeimg_assets.hub_client.verified import RepoFile, unsafe_name_reason
from fakeimg_assets.lib.paths import InvalidModelIdError, validate_model_id
from fakeimg_assets.sampling.execute import DTYPES, SampleOutcome, SampleRequest
from fakeimg_assets.sampling.types import (
    BaseRef,
    DownloadPlan,
    ImageRequest,
    SampledImage,
    SamplingParams,
    SamplingRun,
)

MAX_HEADER_BYTES = 32 * 2**20  # a request, or an answer's header (prompts, file lists)
MAX_IMAGE_BYTES = 64 * 2**20  # one PNG (a 2048 px RGB image is about 12 MiB raw)
MAX_IMAGES = 100_000
MAX_TEXT = 1_000_000  # an error's message or traceback, in characters
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class WorkerProtocolError(ValueError):
    """A frame that is not a valid message of this protocol; names the field at fault."""


class Spec:
    """Encodes a value to JSON data and checks + decodes it back; `where` names the field."""

    def encode(self, value: Any, frames: list[bytes]) -> Any:
        return value

    def decode(self, value: Any, where: str, frames: Iterator[bytes]) -> Any:
        raise NotImplementedError


def _bad(where: str, expected: str, value: Any) -> WorkerProtocolError:
    shown = repr(value)[:80] if isinstance(value, int | float | bool | type(None)) else (
        type(value).__name__)
    return WorkerProtocolError(f"{where}: expected {expected}, got {shown}")


class Str(Spec):
    def __init__(self, max_len: int = 4096, check: Callable[[str], str | None] | None = None,
                 ) -> None:
        self.max_len, self.check = max_len, check

    def decode(self, value: Any, where: str, frames: Iterator[bytes]) -> str:
        if not isinstance(value, str):
            raise _bad(where, "a string", value)
        if len(value) > self.max_len:
            raise WorkerProtocolError(f"{where}: a string over {self.max_len} characters")
        reason = self.check(value) if self.check else None
        if reason:
            raise WorkerProtocolError(f"{where}: {value[:200]!r} refused: {reason}")
        return value


class Int(Spec):
    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def decode(self, value: Any, where: str, frames: Iterator[bytes]) -> int:
        if type(value) is not int or not self.lo <= value <= self.hi:
            raise _bad(where, f"an integer in [{self.lo}, {self.hi}]", value)
        return value


class Num(Spec):
    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi

    def decode(self, value: Any, where: str, frames: Iterator[bytes]) -> float:
        if type(value) not in (int, float) or not self.lo <= value <= self.hi:
            raise _bad(where, f"a finite number in [{self.lo:g}, {self.hi:g}]", value)
        return value


class Bool(Spec):
    def decode(self, value: Any, where: str, frames: Iterator[bytes]) -> bool:
        if type(value) is not bool:
            raise _bad(where, "true or false", value)
        return value


class Scalar(Spec):
    """A JSON scalar (worker info values, exception arguments)."""

    def decode(self, value: Any, where: str, frames: Iterator[bytes]) -> Any:
        if value is None or type(value) is bool:
            return value
        if type(value) is int:
            return Int(-(2**63), 2**64).decode(value, where, frames)
        if type(value) is float:
            return Num(-math.inf, math.inf).decode(value, where, frames)
        return Str(1_000_000).decode(value, where, frames)


class Null(Spec):
    """Only null: a base's own plan names no further base."""

    def encode(self, value: Any, frames: list[bytes]) -> Any:
        if value is not None:
            raise WorkerProtocolError("a base's plan has a base of its own: not encodable")
        return None

    def decode(self, value: Any, where: str, frames: Iterator[bytes]) -> None:
        if value is not None:
            raise _bad(where, "null (a base has no base of its own)", value)


class Opt(Spec):
    def __init__(self, inner: Spec) -> None:
        self.inner = inner

    def encode(self, value: Any, frames: list[bytes]) -> Any:
        return None if value is None else self.inner.encode(value, frames)

    def decode(self, value: Any, where: str, frames: Iterator[bytes]) -> Any:
        return None if value is None else self.inner.decode(value, where, frames)


class Seq(Spec):
    """A JSON list, decoded as a tuple (or a list with `as_list`)."""

    def __init__(self, inner: Spec, max_len: int, as_list: bool = False) -> None:
        self.inner, self.max_len, self.as_list = inner, max_len, as_list

    def encode(self, value: Any, frames: list[bytes]) -> Any:
        return [self.inner.encode(v, frames) for v in value]

    def decode(self, value: Any, where: str, frames: Iterator[bytes]) -> Any:
        if not isinstance(value, list) or len(value) > self.max_len:
            raise _bad(where, f"a list of at most {self.max_len} items", value)
        out = [self.inner.decode(v, f"{where}[{i}]", frames) for i, v in enumerate(value)]
        return out if self.as_list else tuple(out)


class Map(Spec):
    """A JSON object with string keys and `inner` values."""

    def __init__(self, inner: Spec, max_len: int = 1000) -> None:
        self.inner, self.max_len = inner, max_len

    def encode(self, value: Any, frames: list[bytes]) -> Any:
        return {str(k): self.inner.encode(v, frames) for k, v in value.items()}

    def decode(self, value: Any, where: str, frames: Iterator[bytes]) -> dict:
        if not isinstance(value, dict) or len(value) > self.max_len:
            raise _bad(where, f"an object of at most {self.max_len} entries", value)
        return {Str(1000).decode(k, f"{where} key", frames): self.inner.decode(v, f"{where}.{k}",
                                                                               frames)
                for k, v in value.items()}


class AbsPath(Spec):
    def encode(self, value: Any, frames: list[bytes]) -> Any:
        return str(value)

    def decode(self, value: Any, where: str, frames: Iterator[bytes]) -> Path:
        text = Str(4096).decode(value, where, frames)
        if not text.startswith("/") or "\x00" in text:
            raise WorkerProtocolError(f"{where}: {text[:200]!r} is not an absolute path")
        return Path(text)


class Frame(Spec):
    """Bytes sent as their own frame after the header; the header holds their length."""

    def encode(self, value: Any, frames: list[bytes]) -> Any:
        frames.append(bytes(value))
        return len(value)

    def decode(self, value: Any, where: str, frames: Iterator[bytes]) -> bytes:
        size = Int(0, MAX_IMAGE_BYTES).decode(value, where, frames)
        data = next(frames, None)
        if data is None or len(data) != size or not data.startswith(PNG_SIGNATURE):
            raise WorkerProtocolError(f"{where}: no PNG frame of {size} bytes follows the header")
        return data


class Obj(Spec):
    """A dataclass (or, with `cls=None`, a dict) with exactly the fields of `fields`."""

    def __init__(self, cls: type | None, fields: dict[str, Spec]) -> None:
        self.cls, self.fields = cls, fields

    def encode(self, value: Any, frames: list[bytes]) -> Any:
        if self.cls is not None:
            names = [f.name for f in dataclasses.fields(value)]
            unknown = sorted(set(names) - set(self.fields))
            if unknown or type(value) is not self.cls:
                raise WorkerProtocolError(
                    f"worker_protocol has no wire schema for {type(value).__name__} field(s) "
                    f"{unknown}; add them to sampling/worker_protocol.py")
            value = {n: getattr(value, n) for n in names}
        return {n: spec.encode(value[n], frames) for n, spec in self.fields.items()}

    def decode(self, value: Any, where: str, frames: Iterator[bytes]) -> Any:
        if not isinstance(value, dict):
            raise _bad(where, "an object", value)
        missing = sorted(set(self.fields) - set(value))
        unknown = sorted(set(value) - set(self.fields))
        if missing or unknown:
            raise WorkerProtocolError(f"{where}: missing field(s) {missing}, unknown field(s) "
                                      f"{[u[:100] for u in unknown[:10]]}")
        out = {n: spec.decode(value[n], f"{where}.{n}", frames) for n, spec in self.fields.items()}
        return out if self.cls is None else self.cls(**out)


def _model_id(value: str) -> str | None:
    try:
        validate_model_id(value)
    except InvalidModelIdError as exc:
        return str(exc)
    return None


def _device(value: str) -> str | None:
    return None if re.fullmatch(r"[a-z]{1,16}(:[0-9]{1,4})?", value) else "not a torch device name"


MODEL_ID = Str(200, _model_id)
NAME = Str(200)
REPO_NAME = Str(1000, unsafe_name_reason)
COUNT = Int(0, 2**62)
REPO_FILE = Obj(RepoFile, {"path": REPO_NAME, "size": COUNT, "sha256": Opt(Str(64))})


def _plan(base: Spec) -> Obj:
    return Obj(DownloadPlan, {
        "pipeline_class": NAME, "recipe": NAME, "architecture": NAME,
        "files": Seq(REPO_NAME, 100_000), "components": Map(Seq(Opt(NAME), 2, as_list=True)),
        "variant": Opt(NAME), "downloaded_bytes": COUNT, "repo_bytes": COUNT,
        "n_repo_files": COUNT, "skipped": Seq(Str(1000), 1_000_000),
        "absent_components": Seq(NAME, 1000), "expected": Seq(REPO_FILE, 100_000),
        "kind": Str(32, lambda k: None if k in ("pipeline", "lora", "single_file") else
                    "not a kind of repo"),
        "base": base,
    })


BASE_REF = Obj(BaseRef, {
    "model_id": MODEL_ID, "revision": NAME, "plan": _plan(Null()),
    "weights_file": REPO_NAME, "adapter_scale": Opt(Num(-1e6, 1e6)),
    "trigger_words": Opt(Str(100_000)), "uncached_bytes": COUNT,
})
IMAGE_REQUEST = Obj(ImageRequest, {
    "index": Int(0, MAX_IMAGES), "prompt": Str(1_000_000), "prompt_id": Opt(Str(1000)),
    "seed": Int(0, 2**64 - 1),
})
PARAMS = Obj(SamplingParams, {
    "n_images": Int(1, MAX_IMAGES), "steps": Opt(Int(1, 10_000)),
    "guidance_scale": Opt(Num(-1e6, 1e6)), "height": Opt(Int(8, 16_384)),
    "width": Opt(Int(8, 16_384)), "batch_size": Int(1, 1024),
})
REQUEST = Obj(SampleRequest, {
    "model_id": MODEL_ID, "revision": NAME, "local_dir": AbsPath(), "plan": _plan(Opt(BASE_REF)),
    "recipe": NAME, "base_dir": Opt(AbsPath()), "requests": Seq(IMAGE_REQUEST, MAX_IMAGES),
    "params": PARAMS, "device": Str(32, _device),
    "dtype": Str(16, lambda d: None if d in DTYPES else f"not one of {list(DTYPES)}"),
    "threads": Int(1, 4096), "max_seconds": Num(-1e9, 1e9), "max_model_bytes": Opt(COUNT),
})
WORKER_INFO = Map(Scalar(), 32)
SAMPLED_IMAGE = Obj(SampledImage, {
    "request": IMAGE_REQUEST, "png": Frame(), "width": Int(1, 65_536),
    "height": Int(1, 65_536), "mode": Str(16),
})
RUN = Obj(SamplingRun, {
    "model_id": MODEL_ID, "revision": NAME, "recipe": NAME, "pipeline_class": NAME,
    "scheduler": NAME, "steps": Int(0, 10**6), "guidance_scale": Num(-1e9, 1e9),
    "batch_size": Int(1, 1024), "dtype": NAME, "device": NAME,
    "library_versions": Map(NAME, 100), "torch_threads": Int(1, 4096),
    "images": Seq(SAMPLED_IMAGE, MAX_IMAGES, as_list=True),
})
OUTCOME = Obj(SampleOutcome, {
    "run": RUN, "load_seconds": Num(0, 1e9), "sample_seconds": Num(0, 1e9),
    "worker": WORKER_INFO,
})
IDENT = Str(200, lambda s: None if all(p.isidentifier() for p in s.split(".")) else
            "not a dotted Python name")
NAME_OR_NONE = Opt(Str(4096))
ERROR = Obj(None, {
    "name": Str(200, lambda s: None if s.isidentifier() else "not a Python name"),
    "mro": Seq(IDENT, 64, as_list=True), "message": Str(MAX_TEXT),
    "args": Opt(Seq(Scalar(), 16, as_list=True)), "stage": NAME,
    "attrs": Obj(None, {"stage": Opt(NAME), "retry_after_s": Opt(Num(0, 1e9)),
                        "filename": NAME_OR_NONE, "filename2": NAME_OR_NONE}),
    "transient": Bool(), "traceback": Str(MAX_TEXT),
})
