"""Checks of user-given values, shared by the CLI (argparse `type=`), `RunOptions` and the
Dagster run configs, so a bad value is refused before any work, naming what was wrong and
what is allowed.

Each `check_*` function returns the (converted) value or raises `ValueError` whose message
says what is wrong without naming the argument ("must be an integer >= 1, got 0"): the caller
names it (argparse: "argument --steps: ...", `OptionError`: "steps: ..."). torch is imported
only to ask this machine for its devices (`check_device_available`).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEVICE_SYNTAX = "auto, cpu, cuda, cuda:K (K = 0, 1, ...), mps"
_DEVICE = re.compile(r"(auto|cpu|mps|cuda(:(0|[1-9][0-9]{0,3}))?)", re.ASCII)
MAX_SAFETENSORS_HEADER = 100 * 2**20  # the safetensors library's own limit


class OptionError(ValueError):
    """A bad value of a named option (a `RunOptions` field): `field`, `value`, `problem`."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field, self.value, self.problem = field, value, problem
        super().__init__(f"{field}: {problem}")

    @property
    def argument(self) -> str:
        """The command-line spelling of the field: `images_per_model` -> `--images-per-model`."""
        return "--" + self.field.replace("_", "-")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_int(value: object, minimum: int, maximum: int | None = None, *,
              none_ok: bool = False, multiple_of: int = 1, or_zero: bool = False) -> int | None:
    """An integer in [minimum, maximum] (and a multiple of `multiple_of`), from an int or its
    decimal text; None only if `none_ok`, 0 also if `or_zero` (an "off" value)."""
    if value is None and none_ok:
        return None
    n = None
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]{1,18}", value.strip(), re.ASCII):
        n = int(value)
    if n == 0 and or_zero:
        return 0
    if (n is None or n < minimum or (maximum is not None and n > maximum)
            or n % multiple_of):
        want = f"an integer >= {minimum}" if maximum is None else \
            f"an integer from {minimum} to {maximum}"
        want += f", a multiple of {multiple_of}" if multiple_of != 1 else ""
        want += " (or 0: off)" if or_zero else ""
        want += " (or leave it unset)" if none_ok else ""
        raise ValueError(f"must be {want}, got {_shown(value)}")
    return n


def check_float(value: object, minimum: float, *, above: bool = False) -> float:
    """A finite number >= `minimum` (> when `above`), from a number or its text."""
    try:
        x = float(value) if not isinstance(value, bool) else math.nan  # type: ignore[arg-type]
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x) or x < minimum or (above and x == minimum):
        raise ValueError(f"must be a number {'>' if above else '>='} {minimum:g}, "
                         f"got {_shown(value)}")
    return x


def check_device_syntax(value: object) -> str:
    """`auto`, `cpu`, `mps`, `cuda` or `cuda:K`; availability is `check_device_available`'s."""
    if not isinstance(value, str) or not _DEVICE.fullmatch(value):
        raise ValueError(f"must be one of {DEVICE_SYNTAX}; got {_shown(value)}")
    return value


def devices_of(cuda_count: int, has_mps: bool) -> list[str]:
    """The device names a machine with `cuda_count` CUDA devices (and MPS or not) runs on."""
    out = ["auto", "cpu"]
    if cuda_count > 0:
        out += ["cuda"] + [f"cuda:{k}" for k in range(cuda_count)]
    return out + (["mps"] if has_mps else [])


def device_problem(device: str, cuda_count: int, has_mps: bool) -> str | None:
    """Why `device` (valid syntax) cannot run on such a machine, saying what it has; or None."""
    have = devices_of(cuda_count, has_mps)
    if device in have:
        return None
    if device.startswith("cuda"):
        n = cuda_count
        names = "cuda:0" if n == 1 else f"cuda:0..cuda:{n - 1}"
        has = (f"{n} CUDA device{'s' if n != 1 else ''} ({names})" if n
               else "no CUDA device (torch.cuda.is_available() is False)")
    else:
        has = f"no {device.upper()} device"
    return f"{device!r} asked for, but this machine has {has}; use one of: {', '.join(have)}"


def _this_machine() -> tuple[int, bool]:
    """(CUDA devices, MPS available) as torch sees them now."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return (torch.cuda.device_count() if torch.cuda.is_available() else 0,
            mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """What this machine can run on, e.g. ['auto', 'cpu'] or ['auto', 'cpu', 'cuda', 'cuda:0']."""
    return devices_of(*_this_machine())


def check_device_available(value: object) -> str:
    """A device this machine has: `cuda` without CUDA, `cuda:K` beyond the device count or
    `mps` without MPS is refused, saying what the machine has."""
    device = check_device_syntax(value)
    problem = device_problem(device, *_this_machine())
    if problem is not None:
        raise ValueError(problem)
    return device


def check_backbone(value: object, *, empty_ok: bool = False) -> str:
    """A registered detector backbone (detection/backbones.py), listing the known ones;
    '' too when `empty_ok` (a config's "same as the main run")."""
    from fakeimg_assets.detection.backbones import list_backbones

    if empty_ok and value == "":
        return ""
    if not isinstance(value, str) or value not in list_backbones():
        raise ValueError(f"unknown backbone {_shown(value)}; "
                         f"choose one of: {', '.join(list_backbones())}")
    return value


def check_post(value: object) -> str:
    """A post-processing spec `real/post.py` parses ('' = none), e.g. 'resize:0.5+jpeg:70-95'."""
    from fakeimg_assets.real.post import parse_post

    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"must be a post-processing spec, got {_shown(value)}")
    parse_post(value)  # ValueError names the bad step and the valid forms
    return value


def check_choices(value: object, choices: tuple[str, ...] | list[str]) -> object:
    """One choice, or a list of them, each among `choices` (named in the refusal)."""
    values = value if isinstance(value, list | tuple) else [value]
    bad = [v for v in values if v not in choices]
    if bad:
        raise ValueError(f"unknown {', '.join(map(_shown, bad))}; choose from: "
                         f"{', '.join(choices)}")
    return value


def check_folder(value: object) -> str:
    """An existing folder ('' = not given)."""
    if value in (None, ""):
        return ""
    path = Path(str(value)).expanduser()
    if not path.exists():
        raise ValueError(f"no such folder: {str(value)!r}")
    if not path.is_dir():
        raise ValueError(f"{str(value)!r} is not a folder")
    return str(value)


def check_output_file(value: object) -> str:
    """A file to write: its folder exists and the path is no folder ('' = not given)."""
    if value in (None, ""):
        return ""
    path = Path(str(value)).expanduser()
    if path.is_dir():
        raise ValueError(f"{str(value)!r} is a folder, not a file to write")
    if not path.parent.is_dir():
        raise ValueError(f"no such folder: {str(path.parent)!r} (for {str(value)!r})")
    return str(value)


def check_repo_id(value: object) -> str:
    """A Hub repo id 'org/name' under the Hub's naming rules ('' = not given)."""
    from fakeimg_assets.lib.paths import model_id_problem, shown_id

    if value in (None, ""):
        return ""
    problem = model_id_problem(value)
    if problem is not None:
        raise ValueError(f"invalid Hub repo id {shown_id(value)}: {problem}; expected 'org/name' "
                         "of letters, digits, '-', '_' or '.'")
    return str(value)


def check_safetensors_file(value: object) -> str:
    """An existing `.safetensors` file whose header reads as safetensors ('' = not given)."""
    if value in (None, ""):
        return ""
    path = Path(str(value)).expanduser()
    if not path.is_file():
        raise ValueError(f"no such file: {str(value)!r}" if not path.exists()
                         else f"{str(value)!r} is not a file")
    if path.suffix != ".safetensors":
        raise ValueError(f"{str(value)!r} is not a .safetensors file (pickled weights are "
                         "refused)")
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        ok = 0 < n <= min(MAX_SAFETENSORS_HEADER, size - 8)
        try:
            header = json.loads(fh.read(n)) if ok else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            header = None
    if not isinstance(header, dict) or not any(k != "__metadata__" for k in header):
        raise ValueError(f"{str(value)!r} is no readable safetensors file (bad or empty header)")
    return str(value)


def arg_type(check: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[str], Any]:
    """`check` as an argparse `type=`: argparse then reports "argument --x: <problem>", exit 2."""

    def convert(text: str) -> Any:
        try:
            return check(text, *args, **kwargs)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = check.__name__.removeprefix("check_")
    return convert


def field_check(check: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    """`check` as the body of a pydantic `field_validator` (Dagster run configs): its
    ValueError becomes the field's validation error, which names the field. None (an
    unset optional field) passes unchecked."""

    def validate(cls: type, value: Any) -> Any:  # noqa: ARG001 - pydantic passes the class
        return None if value is None else check(value, *args, **kwargs)  # None: unset

    validate.__name__ = check.__name__
    return validate


__all__ = [
    "DEVICE_SYNTAX",
    "OptionError",
    "arg_type",
    "available_devices",
    "check_backbone",
    "check_device_available",
    "check_choices",
    "check_device_syntax",
    "check_float",
    "check_folder",
    "check_int",
    "check_output_file",
    "check_post",
    "check_repo_id",
    "check_safetensors_file",
    "device_problem",
    "devices_of",
    "field_check",
]
