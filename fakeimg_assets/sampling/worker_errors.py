"""Errors across the warm worker's boundary: data out, the platform's classes back in.

The worker cannot send exception objects (that would need pickle). It sends an error's class
name and qualified base names, message, simple arguments, stage and the worker's own
transient/permanent verdict (`retry.is_transient` on the original, cause chain included),
with the traceback as text. The run rebuilds it here: a class on the allow-list
(`ERROR_CLASSES`: Python's plain exceptions and the platform's own) is built again with the
same message; any other class becomes a bare stand-in subclass, with the worker's class
name, of its allow-listed bases (torch's `OutOfMemoryError` a `RuntimeError` so named). The
rebuilt error's cause is a `WorkerTraceback` holding the verdict, so `model_failures` records
the same error type, stage, message and verdict as when the run samples in-process.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

from fakeimg_assets.lib import errors
from fakeimg_assets.lib.paths import InvalidModelIdError
from fakeimg_assets.lib.retry import is_transient
from fakeimg_assets.sampling.recipes import UnknownRecipeError
from fakeimg_assets.sampling.types import (
    IncompleteWeightsError,
    SamplingError,
    UnsafeRepoError,
    UnsupportedRepoError,
)
from fakeimg_assets.sampling.worker_files import WorkerError
from fakeimg_assets.sampling.worker_schema import MAX_TEXT, WorkerProtocolError


class WorkerTraceback(errors.FakeimgError):
    """The worker-side traceback of an error raised in the worker; the cause of the rebuilt
    error, carrying the worker's transient/permanent verdict on the original."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def _scalar(value: Any) -> bool:
    return (value is None or type(value) in (bool, int) and abs(value) < 2**63
            or type(value) is float and math.isfinite(value)
            or type(value) is str and len(value) <= 10_000)


def describe_error(exc: BaseException, stage: str, trace: str) -> dict:
    """What crosses the boundary for an error: names, text and the verdict, no objects."""
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the error
        message = f"<{type(exc).__name__} with an unprintable message>"
    args = list(exc.args) if len(exc.args) <= 16 and all(map(_scalar, exc.args)) else None

    def attr(name: str, kind: type) -> Any:
        value = getattr(exc, name, None)
        return value if isinstance(value, kind) and _scalar(value) else None

    return {
        "name": type(exc).__name__,
        "mro": [f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__
                if c not in (object, BaseException)][:64],
        "message": message[:MAX_TEXT], "args": args, "stage": stage[:200],
        "attrs": {"stage": attr("stage", str), "retry_after_s": attr("retry_after_s", float),
                  "filename": attr("filename", str), "filename2": attr("filename2", str)},
        "transient": is_transient(exc), "traceback": trace[-MAX_TEXT:],
    }


_BUILTIN_ERRORS = (
    "Exception ArithmeticError AssertionError AttributeError BufferError EOFError ImportError "
    "ModuleNotFoundError LookupError IndexError KeyError MemoryError NameError OSError "
    "ConnectionError BrokenPipeError ConnectionAbortedError ConnectionRefusedError "
    "ConnectionResetError FileExistsError FileNotFoundError InterruptedError IsADirectoryError "
    "NotADirectoryError PermissionError ProcessLookupError TimeoutError ReferenceError "
    "RuntimeError NotImplementedError RecursionError OverflowError ZeroDivisionError "
    "FloatingPointError SystemError TypeError ValueError UnicodeError").split()
_PLATFORM_ERRORS: tuple[type[BaseException], ...] = (
    errors.FakeimgError, errors.TransientError, errors.ResourceLimitError,
    errors.DownloadVerificationError, SamplingError, UnsafeRepoError, UnsupportedRepoError,
    UnknownRecipeError, InvalidModelIdError, IncompleteWeightsError, WorkerError,
    WorkerProtocolError,
)


def error_classes() -> dict[str, type[BaseException]]:
    """The exception classes an answer may name, by qualified name."""
    classes = [getattr(builtins, n) for n in _BUILTIN_ERRORS] + list(_PLATFORM_ERRORS)
    return {f"{c.__module__}.{c.__qualname__}": c for c in classes}


ERROR_CLASSES = error_classes()
_STAND_INS: dict[tuple[str, tuple[type, ...]], type[BaseException]] = {}


def _allowed_bases(mro: list[str]) -> tuple[type[BaseException], ...]:
    """The most derived allow-listed classes among the worker's class's bases."""
    found = [ERROR_CLASSES[q] for q in mro if q in ERROR_CLASSES]
    return tuple(c for c in found if not any(o is not c and issubclass(o, c) for o in found)) or (
        Exception,)


def _stand_in(name: str, bases: tuple[type[BaseException], ...]) -> type[BaseException]:
    """A bare subclass of allow-listed `bases` named as the worker's class (no code of its
    own), so the failure row keeps its error type; one per (name, bases), at most 256."""
    key = (name, bases)
    if key not in _STAND_INS:
        if len(_STAND_INS) >= 256:
            return bases[0]
        attrs = {"__module__": __name__, "__doc__": f"{name}, raised in the sampling worker"}
        try:
            _STAND_INS[key] = type(name, bases, attrs)
        except TypeError:  # bases whose layouts cannot be combined: the first decides
            _STAND_INS[key] = type(name, bases[:1], attrs)
    return _STAND_INS[key]


def _construct(cls: type[BaseException], error: dict) -> BaseException | None:
    """`cls` built so that its text is the worker's message exactly; None if it cannot be."""
    message, args, attrs = error["message"], error["args"], error["attrs"]
    if issubclass(cls, SamplingError):
        exc: BaseException = cls(attrs["stage"] or error["stage"], "")
        exc.args = (message,)
        return exc
    if issubclass(cls, errors.TransientError):
        return cls(message, retry_after_s=attrs["retry_after_s"])
    tries = [args] if args is not None else []
    if args is not None and issubclass(cls, OSError) and len(args) == 2 and attrs["filename"]:
        extra = [attrs["filename"], None, attrs["filename2"]] if attrs["filename2"] else [
            attrs["filename"]]
        tries.insert(0, args + extra)
    for call_args in [*tries, [message]]:
        try:
            exc = cls(*call_args)
        except Exception:  # noqa: BLE001 - a constructor that wants other arguments
            continue
        if str(exc) == message:
            return exc
    return None


def rebuild_error(error: dict, worker: dict[str, Any]) -> BaseException:
    """The worker's error as an instance of the same class (allow-listed) or of a stand-in of
    the same name; its cause is a `WorkerTraceback` carrying the worker's verdict."""
    name, mro = error["name"], error["mro"]
    cls = ERROR_CLASSES.get(mro[0]) if mro else None
    if cls is None or cls.__name__ != name:
        cls = _stand_in(name, _allowed_bases(mro))
    exc = _construct(cls, error) or RuntimeError(f"{name}: {error['message']}")
    if error["attrs"]["stage"]:
        exc.stage = error["attrs"]["stage"]  # type: ignore[attr-defined]
    exc.__cause__ = WorkerTraceback(
        f"raised in the sampling worker (pid {worker.get('pid')}):\n{error['traceback']}",
        transient=error["transient"])
    return exc
