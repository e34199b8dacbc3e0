"""Transient versus permanent failures: classification, model_info retries against the
loopback Hub, Dagster step retries (issue 5, item 4). Instance config: test_instance_config."""

from __future__ import annotations

import http.client
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx2
import pytest
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
)
from huggingface_hub.utils import _http as hf_http

from fakeimg_assets.lib.errors import DownloadVerificationError, ResourceLimitError, TransientError
from fakeimg_assets.lib.retry import (
    RetrySettings,
    backoff_seconds,
    call_with_retries,
    is_transient,
    retry_after_seconds,
)
from fakeimg_assets.models.assets import model_metadata
from fakeimg_assets.platform_run import failure_message
from fakeimg_assets.sampling.types import UnsafeRepoError
from fakeimg_assets.testbed.local_hub.server import HubServer
from fakeimg_assets.warehouse.store import Warehouse
from resources import HubResource, ImageStoreResource, WarehouseResource
from tests.helpers.zoo import pick


def _http_error(status: int, cls: type[HfHubHTTPError] = HfHubHTTPError, **headers: str):
    request = httpx2.Request("GET", "http://127.0.0.1:9/api/models/a/b")
    response = httpx2.Response(status, headers=headers, request=request)
    return cls(f"{status} error", response=response)


def _raised(outer: BaseException, inner: BaseException, *, cause: bool = True) -> BaseException:
    """`outer` raised while handling `inner` (`raise ... from` when `cause`)."""
    try:
        try:
            raise inner
        except BaseException as exc:
            if cause:
                raise outer from exc
            raise outer  # noqa: B904 - the implicit __context__ is the point
    except BaseException as exc:
        return exc


CASES = [
    ("TransientError", TransientError("hub flaked"), True),
    ("429", _http_error(429, **{"Retry-After": "1"}), True),
    ("500", _http_error(500), True),
    ("503", _http_error(503), True),
    ("408", _http_error(408), True),
    ("404 repo", _http_error(404, RepositoryNotFoundError), False),
    ("401 gated", _http_error(401, GatedRepoError), False),
    ("403", _http_error(403), False),
    ("400", _http_error(400), False),
    ("httpx read timeout", httpx2.ReadTimeout("timed out"), True),
    ("httpx connect error", httpx2.ConnectError("refused"), True),
    ("httpx truncated body", httpx2.RemoteProtocolError("incomplete chunked read"), True),
    ("TimeoutError", TimeoutError("slow"), True),
    ("ConnectionError", ConnectionResetError("reset"), True),
    ("IncompleteRead", http.client.IncompleteRead(b"abc", 10), True),
    ("size check", OSError("Consistency check failed: file should be of size 9 but has size 3"), True),
    ("corrupt upload", OSError("Unable to load weights: file is truncated or incomplete"), False),
    ("offline mode", OfflineModeIsEnabled("HF_HUB_OFFLINE=1"), False),
    ("UnsafeRepoError", UnsafeRepoError("custom pipeline"), False),
    ("ResourceLimitError", ResourceLimitError("too big"), False),
    ("DownloadVerificationError", DownloadVerificationError("sha256 mismatch"), False),
    ("ValueError", ValueError("bad config"), False),
    ("json", json.JSONDecodeError("bad", "{", 0), False),
    ("RuntimeError", RuntimeError("unknown"), False),
    ("wrapped 503", _raised(RuntimeError("load failed"), _http_error(503)), True),
    ("cache miss after refused", _raised(LocalEntryNotFoundError("no"), httpx2.ConnectError("x")), True),
    ("unsafe while timing out", _raised(UnsafeRepoError("bad"), TimeoutError(), cause=False), False),
    ("404 wrapped as OSError", _raised(OSError("cannot load"), _http_error(404)), False),
    ("implicit context", _raised(RuntimeError("x"), TimeoutError(), cause=False), True),
]


@pytest.mark.parametrize(("name", "exc", "expected"), CASES, ids=[c[0] for c in CASES])
def test_transient_versus_permanent_table(name: str, exc: BaseException, expected: bool) -> None:
    assert is_transient(exc) is expected, name


def test_suppressed_context_is_not_followed() -> None:
    try:
        try:
            raise TimeoutError("slow")
        except TimeoutError:
            raise RuntimeError("gave up") from None
    except RuntimeError as exc:
        assert not is_transient(exc)


def test_retry_after_header_and_backoff_bounds() -> None:
    assert retry_after_seconds(_http_error(429, **{"Retry-After": "7"})) == 7.0
    when = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past: no wait
    assert retry_after_seconds(_http_error(503, **{"Retry-After": when})) == 0.0
    spent = {"RateLimit": '"api";r=0;t=42', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'}
    assert retry_after_seconds(_http_error(429, **spent)) == 42.0
    assert retry_after_seconds(_raised(TransientError("x", retry_after_s=3), ValueError())) == 3.0
    assert retry_after_seconds(_http_error(500)) is None
    settings = RetrySettings(base_s=1.0, cap_s=4.0, retry_after_cap_s=10.0)
    assert backoff_seconds(1, _http_error(429, **{"Retry-After": "99"}), settings) == 10.0
    waits = [backoff_seconds(a, None, settings, rng=lambda: 1.0) for a in range(1, 6)]
    assert waits == [1.0, 2.0, 4.0, 4.0, 4.0]  # exponential, capped
    assert backoff_seconds(3, None, settings, rng=lambda: 0.0) == 2.0  # jitter keeps half
    with pytest.raises(ValueError, match="attempts"):
        RetrySettings(attempts=0)


def test_call_with_retries_stops_at_permanent_and_bounds_transient() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def permanent() -> None:
        calls.append(1)
        raise _http_error(404, RepositoryNotFoundError)

    with pytest.raises(RepositoryNotFoundError):
        call_with_retries(permanent, what="x", sleep=sleeps.append)
    assert len(calls) == 1 and sleeps == []

    def flaky() -> None:
        calls.append(1)
        raise _http_error(503, **{"Retry-After": "2"})

    calls.clear()
    with pytest.raises(TransientError, match="still failing after 3 attempts") as info:
        call_with_retries(flaky, what="x", settings=RetrySettings(attempts=3), sleep=sleeps.append)
    assert len(calls) == 3 and sleeps == [2.0, 2.0]
    assert is_transient(info.value) and info.value.retry_after_s == 2.0


# ---- against the real huggingface_hub client and the loopback Hub server -------------


@pytest.fixture
def request_count() -> Iterator[list[str]]:
    """Every HTTP request huggingface_hub sends, via its documented client factory hook."""
    seen: list[str] = []

    def factory() -> httpx2.Client:
        client = hf_http.default_client_factory()
        client.event_hooks["request"].append(lambda r: seen.append(f"{r.method} {r.url.path}"))
        return client

    hf_http.set_client_factory(factory)
    try:
        yield seen
    finally:
        hf_http.set_client_factory(hf_http.default_client_factory)


def _serve_one(zoo_dir: Path, model_id: str, root: Path, **meta: object) -> Path:
    shutil.copytree(zoo_dir / model_id, root / model_id)
    meta_path = root / model_id / ".hub.json"
    old = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta_path.write_text(json.dumps({**old, **meta}))
    return root


def test_model_info_survives_two_429s(
    tmp_path: Path, zoo_dir: Path, zoo_catalog, request_count: list[str]
) -> None:
    model = pick(zoo_catalog, expect="ok", architecture="sd1")
    root = _serve_one(zoo_dir, model.model_id, tmp_path / "hub", fail_first_n_requests=2)
    with HubServer(root) as server:
        t0 = time.monotonic()
        info = HubResource(endpoint=server.url).model_info(model.model_id)
        elapsed = time.monotonic() - t0
    assert info.id == model.model_id and len(info.sha) == 40
    assert [r for r in request_count if r.startswith("GET /api/models/")] == [
        f"GET /api/models/{model.model_id}"
    ] * 3
    assert elapsed >= 2.0  # Retry-After: 1 honoured twice


def test_model_info_permanent_error_is_not_retried(
    tmp_path: Path, zoo_dir: Path, zoo_catalog, request_count: list[str]
) -> None:
    model = pick(zoo_catalog, expect="ok", architecture="sd1")
    root = _serve_one(zoo_dir, model.model_id, tmp_path / "hub")
    with HubServer(root) as server:
        hub = HubResource(endpoint=server.url)
        with pytest.raises(RepositoryNotFoundError):
            hub.model_info("nobody/no-such-model")
        assert request_count == ["GET /api/models/nobody/no-such-model"]


# ---- through Dagster: RetryRequested for transient, Failure for permanent ------------


def _materialize_metadata(server_url: str, home: Path, model_id: str) -> dg.ExecuteInProcessResult:
    resources = {
        "hub": HubResource(endpoint=server_url, retry_attempts=1),  # leave retries to Dagster
        "warehouse": WarehouseResource(home=str(home)),
        "image_store": ImageStoreResource(home=str(home)),
    }
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hub_models", [model_id])
        return dg.materialize(
            [model_metadata], partition_key=model_id, resources=resources,
            instance=instance, raise_on_error=False,
        )


def _failures(home: Path, model_id: str) -> list[dict]:
    rows = Warehouse(home).read("model_failures").sort("failed_at")
    return [r for r in rows.iter_rows(named=True) if r["model_id"] == model_id]


def _step_events(result: dg.ExecuteInProcessResult, kind: str) -> int:
    return sum(1 for e in result.all_events if e.event_type_value == kind)


def test_transient_failure_is_recorded_and_retried_by_dagster(
    tmp_path: Path, home: Path, zoo_dir: Path, zoo_catalog
) -> None:
    model = pick(zoo_catalog, expect="ok", architecture="sd1")
    root = _serve_one(zoo_dir, model.model_id, tmp_path / "hub", fail_first_n_requests=1)
    with HubServer(root) as server:
        result = _materialize_metadata(server.url, home, model.model_id)
    assert result.success
    assert _step_events(result, "STEP_UP_FOR_RETRY") == 1
    [row] = _failures(home, model.model_id)
    assert row["transient"] is True and row["stage"] == "plan"
    assert Warehouse(home).read_key("model_metadata", model.model_id.replace("/", "--")).height == 1


def test_transient_retries_are_bounded(tmp_path: Path, home: Path, zoo_dir: Path, zoo_catalog) -> None:
    model = pick(zoo_catalog, expect="ok", architecture="sd1")
    root = _serve_one(zoo_dir, model.model_id, tmp_path / "hub", fail_first_n_requests=50)
    with HubServer(root) as server:
        result = _materialize_metadata(server.url, home, model.model_id)
    assert not result.success
    rows = _failures(home, model.model_id)
    assert len(rows) == 3 and all(r["transient"] for r in rows)  # 1 try + 2 step retries
    # what `fakeimg run` prints for the model: transient, and what kept failing
    message = failure_message(result)
    assert message.startswith("model_metadata: transient, Exceeded max_retries of 2: ")
    assert "TransientError: model_info(" in message and "429" in message


def test_permanent_failure_is_not_retried(tmp_path: Path, home: Path, zoo_dir: Path, zoo_catalog) -> None:
    model = pick(zoo_catalog, expect="failure", reason="custom pipeline")
    root = _serve_one(zoo_dir, model.model_id, tmp_path / "hub")
    with HubServer(root) as server:
        result = _materialize_metadata(server.url, home, model.model_id)
    assert result.success  # a refusal: materialized as refused, once
    assert _step_events(result, "STEP_UP_FOR_RETRY") == 0
    [row] = _failures(home, model.model_id)
    assert row["transient"] is False and row["refused"] is True
