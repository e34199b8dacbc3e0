"""The warm worker's wire format: requests and answers are data, decoded strictly, and errors
cross the boundary with their type, message, stage and transient/permanent verdict."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import traceback
from multiprocessing import Pipe
from pathlib import Path

import pytest

from fakeimg_assets.hub_client.verified import RepoFile
from fakeimg_assets.lib.errors import DownloadVerificationError, ResourceLimitError, TransientError
from fakeimg_assets.lib.retry import is_transient
from fakeimg_assets.sampling import worker_protocol as wire
from fakeimg_assets.sampling import worker_schema as schema
from fakeimg_assets.sampling.execute import SampleOutcome, SampleRequest
from fakeimg_assets.sampling.types import (
    BaseRef,
    DownloadPlan,
    ImageRequest,
    IncompleteWeightsError,
    SampledImage,
    SamplingError,
    SamplingParams,
    SamplingRun,
    UnsafeRepoError,
    UnsupportedRepoError,
)
from fakeimg_assets.sampling.worker_errors import WorkerTraceback
from fakeimg_assets.sampling.worker_schema import WorkerProtocolError

SHA = "0123456789abcdef0123456789abcdef01234567"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20


def lora_request() -> SampleRequest:
    """A LoRA's request: a base with its own plan, RepoFiles with and without sha256."""
    base_plan = DownloadPlan(
        "StableDiffusionPipeline", "sd", "sd1", ("model_index.json", "unet/model.safetensors"),
        {"unet": ["diffusers", "UNet2DConditionModel"]}, None, 30, 90, 4, ("README.md",),
        ("safety_checker",),
        (RepoFile("model_index.json", 10), RepoFile("unet/model.safetensors", 20, "a" * 64)))
    ref = BaseRef("org/base", SHA, base_plan, "lora.safetensors", 0.8, "sks style", 30)
    plan = DownloadPlan(
        "StableDiffusionPipeline", "sd_lcm", "sd1", ("lora.safetensors",), {}, "fp16", 31, 31, 2,
        ("README.md",), (), (RepoFile("lora.safetensors", 1, "b" * 64),), kind="lora", base=ref)
    requests = (ImageRequest(0, "a red cube, ünïcode \udcff", "p0", 12345),
                ImageRequest(1, "a cat", None, 2**31 - 1))
    return SampleRequest("org/adapter", SHA, Path("/cache/org--adapter/snap"), plan, "sd_lcm",
                         Path("/cache/org--base/snap"), requests,
                         SamplingParams(2, 4, 7, 64, 64, 2), device="cpu", dtype="float32",
                         threads=2, max_seconds=-1.5, max_model_bytes=2**30)


def outcome() -> SampleOutcome:
    images = [SampledImage(ImageRequest(i, f"p{i}", None, i), PNG + bytes([i]), 8, 8, "RGB")
              for i in range(3)]
    run = SamplingRun("org/adapter", SHA, "sd_lcm", "StableDiffusionPipeline", "LCMScheduler", 4,
                      1.0, 2, "float32", "cpu", {"torch": "2.14.1"}, 3, images)
    return SampleOutcome(run, 0.25, 1.5, {"mode": "warm_worker", "pid": 42, "request": 3})


def answer_of(frames: list[bytes]) -> SampleOutcome | wire.WorkerFailure:
    it = iter(frames)
    return wire.read_answer(lambda limit, what: next(it))


def test_a_request_round_trips_as_json_field_by_field() -> None:
    request = lora_request()
    data = wire.encode_request(request)
    message = json.loads(data)  # plain JSON, nothing else
    assert message["fakeimg_worker"] == wire.PROTOCOL_VERSION
    assert message["request"]["plan"]["base"]["plan"]["expected"][1] == {
        "path": "unet/model.safetensors", "size": 20, "sha256": "a" * 64}
    back = wire.decode_request(data)
    assert back == request
    assert isinstance(back.plan.base, BaseRef) and isinstance(back.local_dir, Path)
    assert isinstance(back.plan.expected, tuple) and isinstance(back.requests[0], ImageRequest)


def test_an_answer_round_trips_with_one_png_frame_per_image() -> None:
    frames = wire.outcome_frames(outcome())
    assert len(frames) == 4 and frames[1:] == [PNG + bytes([i]) for i in range(3)]
    assert answer_of(frames) == outcome()
    header = json.loads(frames[0])
    header["frames"][2] += 1  # a header that lies about a frame's length
    with pytest.raises(WorkerProtocolError, match="image 2"):
        answer_of([json.dumps(header).encode(), *frames[1:]])


def test_every_carried_dataclass_field_has_a_wire_schema() -> None:
    """A field added to a carried dataclass must be added here too, or encoding fails."""
    carried = [schema.REQUEST, schema.REPO_FILE, schema.BASE_REF, schema.IMAGE_REQUEST,
               schema.PARAMS, schema.SAMPLED_IMAGE, schema.RUN, schema.OUTCOME,
               schema.REQUEST.fields["plan"]]
    for spec in carried:
        assert set(spec.fields) == {f.name for f in dataclasses.fields(spec.cls)}, spec.cls

    @dataclasses.dataclass(frozen=True)
    class Grown(SamplingParams):
        surprise: int = 1

    grown = dataclasses.replace(lora_request(), params=Grown())
    with pytest.raises(WorkerProtocolError, match="surprise"):
        wire.encode_request(grown)


class _Canary:
    """Unpickling this creates a folder: proof that a payload was (or was not) unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple:
        return (os.mkdir, (self.path,))


def test_a_pickle_is_refused_without_being_unpickled(tmp_path: Path) -> None:
    proof, canary = tmp_path / "proof", tmp_path / "canary"
    pickle.loads(pickle.dumps(_Canary(proof)))
    assert proof.is_dir()  # the payload is live: unpickling it runs code
    payload = pickle.dumps(_Canary(canary))
    with pytest.raises(WorkerProtocolError, match="pickle: never unpickled"):
        wire.decode_request(payload)
    with pytest.raises(WorkerProtocolError, match="pickle: never unpickled"):
        answer_of([payload])  # the run does not unpickle the worker's answer either
    assert not canary.exists()


def _mutated(change) -> bytes:
    message = json.loads(wire.encode_request(lora_request()))
    change(message)
    return json.dumps(message).encode()


def _set(path: str, value: object):
    def change(message: dict) -> None:
        *parents, last = path.split(".")
        node = message
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value
    return change


def _drop(path: str):
    def change(message: dict) -> None:
        *parents, last = path.split(".")
        node = message
        for key in parents:
            node = node[key]
        del node[last]
    return change


@pytest.mark.parametrize(("data", "expected"), [
    (b'{"fakeimg_worker": 1, "kind": "sample_request", "request": {', "not valid UTF-8 JSON"),
    (b"[1, 2]", "not a fakeimg worker message"),
    (b'{"fakeimg_worker": 1, "kind": "sample_request", "request": NaN}', "NaN is not a number"),
    (b'{"fakeimg_worker": 1, "fakeimg_worker": 1}', "duplicate key 'fakeimg_worker'"),
    (b'{"fakeimg_worker": 1, "kind": "sample_request", "request": {}, "x": 1}', r"fields \["),
    (b'{"fakeimg_worker": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "not valid UTF-8 JSON"),
    (_mutated(_set("fakeimg_worker", 2)), "protocol '2'"),
    (_mutated(_set("kind", "answer")), "got kind 'answer'"),
    (_mutated(_drop("request.params.steps")), r"request.params: missing field\(s\) \['steps'\]"),
    (_mutated(_set("request.params.extra", 1)), r"unknown field\(s\) \['extra'\]"),
    (_mutated(_set("request.threads", "2")), "request.threads: expected an integer"),
    (_mutated(_set("request.threads", True)), "request.threads: expected an integer"),
    (_mutated(_set("request.threads", 10**6)), r"request.threads: expected an integer in \[1"),
    (_mutated(_set("request.params.height", 10**9)), "request.params.height"),
    (_mutated(_set("request.requests.0.seed", -1)), r"request.requests\[0\].seed"),
    (_mutated(_set("request.requests", {"a": 1})), "request.requests: expected a list"),
    (_mutated(_set("request.local_dir", "relative/dir")), "not an absolute path"),
    (_mutated(_set("request.base_dir", "/x\x00y")), "not an absolute path"),
    (_mutated(_set("request.plan.files.0", "../../etc/passwd")), r"'\.\.' path segment"),
    (_mutated(_set("request.plan.expected.0.path", "unet/*")), "glob character"),
    (_mutated(_set("request.plan.base.weights_file", "/abs.safetensors")), "absolute path"),
    (_mutated(_set("request.model_id", "../../etc")), "invalid Hugging Face model id"),
    (_mutated(_set("request.dtype", "float64")), "not one of"),
    (_mutated(_set("request.device", "cuda; rm -rf /")), "not a torch device name"),
    (_mutated(_set("request.plan.kind", "evil")), "not a kind of repo"),
    (_mutated(_set("request.plan.base.plan.base", {"model_id": "a/b"})),
     "null \\(a base has no base of its own\\)"),
    (_mutated(_set("request.plan.base", "os.system")), "request.plan.base: expected an object"),
])
def test_a_malformed_request_is_refused_naming_what_is_wrong(data: bytes, expected: str) -> None:
    with pytest.raises(WorkerProtocolError, match=expected):
        wire.decode_request(data)


def test_a_frame_over_the_cap_is_refused_before_its_body_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wire, "MAX_HEADER_BYTES", 4096)
    for size, accepted in ((5000, False), (None, True)):
        ours, theirs = Pipe()
        try:
            data = wire.encode_request(lora_request())
            assert len(data) < 4096
            theirs.send_bytes(data if accepted else b"{" + b" " * size)
            if accepted:
                assert wire.recv_request(ours) == lora_request()
            else:
                with pytest.raises(WorkerProtocolError, match="over the 4096-byte cap"):
                    wire.recv_request(ours)
        finally:
            ours.close()
            theirs.close()


class OutOfMemoryError(RuntimeError):
    """Named like torch's CUDA OOM: a class outside the allow-list."""


class Picky(ValueError):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"picky {a} {b}")


def _chained() -> SamplingError:
    try:
        raise TimeoutError("read timed out")
    except TimeoutError as exc:
        err = SamplingError("sample", "RuntimeError: a stalled read")
        err.__cause__ = exc
        return err


ERRORS = [
    _chained(),  # undecided itself, transient through its cause
    SamplingError("load", "LoRA x.safetensors: KeyError: 'w'"),
    ResourceLimitError("org/m: partition time limit exceeded after 0 of 1 batches sampled"),
    UnsafeRepoError("org/m: component 'x' comes from 'evil'"),
    UnsupportedRepoError("org/m: holds no LoRA keys"),
    DownloadVerificationError("unet/model.safetensors: sha256 abc, expected def"),
    IncompleteWeightsError("component 'text_encoder': 12 parameters missing"),
    TransientError("503 from the Hub", retry_after_s=3.0),
    KeyError("text_encoder"),
    FileNotFoundError(2, "No such file or directory", "/snap/unet/config.json"),
    MemoryError(),
    OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    Picky(1, 2),
    ValueError("an undecodable name \udcff travels escaped"),
]


@pytest.mark.parametrize("original", ERRORS, ids=lambda e: type(e).__name__)
def test_an_error_crosses_with_its_type_message_stage_and_verdict(original: Exception) -> None:
    try:
        raise original
    except Exception as exc:  # noqa: BLE001 - the worker's catch-all
        frames = wire.error_frames(exc, "sample", traceback.format_exc(), {"pid": 7})
    failure = answer_of(frames)
    assert isinstance(failure, wire.WorkerFailure) and failure.stage == "sample"
    rebuilt = failure.error
    assert type(rebuilt).__name__ == type(original).__name__
    assert str(rebuilt) == str(original)
    assert getattr(rebuilt, "stage", None) == getattr(original, "stage", None)
    assert is_transient(rebuilt) == is_transient(original)
    assert isinstance(rebuilt.__cause__, WorkerTraceback)
    assert "raised in the sampling worker (pid 7)" in str(rebuilt.__cause__)
    assert "Traceback" in str(rebuilt.__cause__)
    if type(original).__module__ != __name__:  # allow-listed: the very class
        assert type(rebuilt) is type(original)
    else:  # a stand-in with the same name, an instance of the allow-listed bases
        assert type(rebuilt) is not type(original)
        assert isinstance(rebuilt, type(original).__mro__[1])
    assert getattr(rebuilt, "retry_after_s", None) == getattr(original, "retry_after_s", None)


def test_a_hostile_error_answer_builds_only_bare_stand_ins() -> None:
    frames = wire.error_frames(ValueError("x"), "load", "", {"pid": 1})
    header = json.loads(frames[0])
    header["error"]["name"], header["error"]["mro"] = "system", ["os.system", "builtins.object"]
    rebuilt = answer_of([json.dumps(header).encode()]).error
    assert type(rebuilt).__name__ == "system" and type(rebuilt).__bases__ == (Exception,)
    assert str(rebuilt) == "x"
    header["error"]["name"] = "os.system(1)"
    with pytest.raises(WorkerProtocolError, match="answer.error.name"):
        answer_of([json.dumps(header).encode()])
    header["error"]["name"], header["error"]["transient"] = "ValueError", "yes"
    with pytest.raises(WorkerProtocolError, match="answer.error.transient"):
        answer_of([json.dumps(header).encode()])
