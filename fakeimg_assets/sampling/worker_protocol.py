"""What a run and its warm sampling worker (`worker.py`) say to each other: data, never pickles.

Holding the worker's key lets a process submit work, not run code: neither side unpickles.
Every message is a length-prefixed frame (`Connection.send_bytes`/`recv_bytes`), read with a
size cap checked before any byte of its body is read:

- request: one frame, UTF-8 JSON `{"fakeimg_worker": 1, "kind": "sample_request",
  "request": {...}}`, the `SampleRequest` field by field (`worker_schema.REQUEST`).
- answer: a JSON header frame, then one raw PNG frame per image in the order of
  `outcome.run.images`: `{"fakeimg_worker": 1, "kind": "answer", "status": "ok",
  "frames": [sizes], "outcome": {...}}`, or `{..., "status": "error", "worker": {...},
  "error": {...}}` (`worker_errors.py`) with no frames.

Anything else (a pickle, malformed JSON, another protocol version, unknown or missing
fields, a frame over its cap) is a `WorkerProtocolError` naming what was wrong.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from fakeimg_assets.sampling.execute import SampleOutcome, SampleRequest
from fakeimg_assets.sampling.worker_errors import describe_error, rebuild_error
from fakeimg_assets.sampling.worker_schema import (
    ERROR,
    MAX_HEADER_BYTES,
    MAX_IMAGE_BYTES,
    MAX_IMAGES,
    OUTCOME,
    REQUEST,
    WORKER_INFO,
    Int,
    Seq,
    WorkerProtocolError,
)

PROTOCOL_VERSION = 1


def recv_frame(conn: Any, limit: int, what: str) -> bytes:
    """One frame of at most `limit` bytes; a longer one is refused before its body is read
    (the connection is then out of step: close it)."""
    try:
        return conn.recv_bytes(limit)
    except OSError as exc:
        if "bad message length" not in str(exc):
            raise
        raise WorkerProtocolError(f"the {what} frame is over the {limit}-byte cap: refused "
                                  "unread") from None


def _dumps(message: dict) -> bytes:
    # ASCII JSON: a lone surrogate (an undecodable file name in a message) travels escaped
    try:
        return json.dumps(message, allow_nan=False, separators=(",", ":")).encode("ascii")
    except (TypeError, ValueError) as exc:  # NaN, or a value of a type JSON cannot carry
        raise WorkerProtocolError(f"cannot encode a worker message: {exc}") from None


def _no_constant(name: str) -> Any:
    raise WorkerProtocolError(f"{name} is not a number this protocol carries")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise WorkerProtocolError(f"duplicate key {key[:100]!r}")
        out[key] = value
    return out


def _loads(data: bytes, kind: str) -> dict:
    """The message's JSON object, checked for protocol version and kind."""
    if not data.startswith(b"{"):
        hint = " (a pickle: never unpickled)" if data[:1] == b"\x80" else ""
        raise WorkerProtocolError(f"the {kind} is not a fakeimg worker message (a JSON object): "
                                  f"it starts with {data[:8]!r}{hint}")
    try:
        message = json.loads(data.decode("utf-8"), parse_constant=_no_constant,
                             object_pairs_hook=_unique_keys)
    except WorkerProtocolError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WorkerProtocolError(f"the {kind} is not valid UTF-8 JSON: {exc}") from None
    version = message.get("fakeimg_worker")
    if version != PROTOCOL_VERSION or message.get("kind") != kind:
        raise WorkerProtocolError(
            f"expected a {kind} of fakeimg worker protocol {PROTOCOL_VERSION}, got kind "
            f"{str(message.get('kind'))[:40]!r} of protocol {str(version)[:20]!r} (a run and a "
            "worker of different versions: stop the worker)")
    return message


def _fields(message: dict, kind: str, keys: set[str]) -> dict:
    if set(message) != keys | {"fakeimg_worker", "kind"}:
        raise WorkerProtocolError(f"the {kind} has fields {sorted(message)[:20]}, expected "
                                  f"{sorted(keys | {'fakeimg_worker', 'kind'})}")
    return message


def encode_request(request: SampleRequest) -> bytes:
    """The request's frame, checked as the worker will check it (a bad field fails here)."""
    body = REQUEST.encode(request, [])
    data = _dumps({"fakeimg_worker": PROTOCOL_VERSION, "kind": "sample_request", "request": body})
    decode_request(data)
    return data


def decode_request(data: bytes) -> SampleRequest:
    message = _fields(_loads(data, "sample_request"), "sample_request", {"request"})
    return REQUEST.decode(message["request"], "request", iter(()))


def recv_request(conn: Any) -> SampleRequest:
    return decode_request(recv_frame(conn, MAX_HEADER_BYTES, "request"))


def outcome_frames(outcome: SampleOutcome) -> list[bytes]:
    """The header, then one frame per image's PNG bytes."""
    frames: list[bytes] = []
    body = OUTCOME.encode(outcome, frames)
    header = {"fakeimg_worker": PROTOCOL_VERSION, "kind": "answer", "status": "ok",
              "frames": [len(f) for f in frames], "outcome": body}
    return [_dumps(header), *frames]


def error_frames(exc: BaseException, stage: str, trace: str, worker: dict[str, Any]) -> list[bytes]:
    header = {"fakeimg_worker": PROTOCOL_VERSION, "kind": "answer", "status": "error",
              "worker": worker, "error": describe_error(exc, stage, trace)}
    return [_dumps(header)]


def send_frames(conn: Any, frames: list[bytes]) -> None:
    for frame in frames:
        conn.send_bytes(frame)


@dataclasses.dataclass
class WorkerFailure:
    """An error answer: the rebuilt error (its cause holds the worker's traceback) and the
    stage the worker was in."""

    error: BaseException
    stage: str


def read_answer(next_frame: Callable[[int, str], bytes]) -> SampleOutcome | WorkerFailure:
    """Decode an answer, pulling frames with `next_frame(limit, what)`."""
    message = _loads(next_frame(MAX_HEADER_BYTES, "answer header"), "answer")
    if message.get("status") == "error":
        _fields(message, "answer", {"status", "worker", "error"})
        worker = WORKER_INFO.decode(message["worker"], "answer.worker", iter(()))
        error = ERROR.decode(message["error"], "answer.error", iter(()))
        return WorkerFailure(rebuild_error(error, worker), error["stage"])
    if message.get("status") != "ok":
        raise WorkerProtocolError(f"answer.status: expected 'ok' or 'error', got "
                                  f"{str(message.get('status'))[:40]!r}")
    _fields(message, "answer", {"status", "frames", "outcome"})
    sizes = Seq(Int(0, MAX_IMAGE_BYTES), MAX_IMAGES).decode(message["frames"], "answer.frames",
                                                            iter(()))
    frames = []
    for i, size in enumerate(sizes):
        frame = next_frame(size, f"image {i}")
        if len(frame) != size:
            raise WorkerProtocolError(f"image {i}: {len(frame)} bytes, the header said {size}")
        frames.append(frame)
    remaining = iter(frames)
    outcome = OUTCOME.decode(message["outcome"], "answer.outcome", remaining)
    if next(remaining, None) is not None:
        raise WorkerProtocolError("the answer has more image frames than images")
    return outcome


def recv_answer(conn: Any) -> SampleOutcome | WorkerFailure:
    return read_answer(lambda limit, what: recv_frame(conn, limit, what))
