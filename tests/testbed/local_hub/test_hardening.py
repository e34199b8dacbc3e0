"""The local Hub's defences: Host header, tokens, request bodies, connection cap, time-outs.

Raw sockets where the client library would hide the point (headers it never sends, bodies
it never declares); the real huggingface_hub client where users meet the rule.
"""

from __future__ import annotations

import argparse
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError

from fakeimg_assets.testbed.local_hub.faults import FaultPlan
from fakeimg_assets.testbed.local_hub.options import TOKENS_ENV, add_serve_arguments, server_options
from fakeimg_assets.testbed.local_hub.server import HubServer
from tests.helpers.hub_repos import make_repo, raw


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("hardening")
    make_repo(base, "acme/open")
    make_repo(base, "lock/gated", hub={"gated": "auto"})
    make_repo(base, "lock/private", hub={"private": True})
    return base


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[HubServer]:
    with HubServer(root, tokens=["hf_right"]) as hub:
        yield hub


def exchange(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, return everything the server answers until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/") else 0


# --------------------------------------------------------------------------- Host header


def test_host_header_must_be_loopback_with_our_port(server: HubServer) -> None:
    port = server.port_bound
    url = f"{server.url}/api/models"
    for host in (f"evil.example:{port}", f"127.0.0.1:{port + 1}", "localhost", f"10.0.0.1:{port}"):
        status, headers, body = raw(url, {"Host": host})
        assert status == 421, host
        assert "DNS rebinding" in json.loads(body)["error"] and host in json.loads(body)["error"]
        assert headers["X-Error-Code"] == "MisdirectedRequest"
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}", f"[::1]:{port}"):
        assert raw(url, {"Host": host})[0] == 200, host
    no_host = exchange(port, b"GET /api/models HTTP/1.0\r\n\r\n")
    assert status_of(no_host) == 400 and b"missing Host header" in no_host
    assert ("GET", "/api/models", 421) in server.requests  # refused requests are logged too
    # The real client, pointed at the server by name, passes the check.
    assert [m.id for m in HfApi(endpoint=f"http://localhost:{port}").list_models(author="acme")]


# --------------------------------------------------------------------------- tokens


def test_only_listed_tokens_unlock_gated_and_private(server: HubServer, tmp_path: Path) -> None:
    def fetch(repo: str, token: str | bool) -> str:
        return hf_hub_download(
            repo, "README.md", cache_dir=tmp_path, endpoint=server.url, token=token
        )

    with pytest.raises(GatedRepoError, match="not in the authorized list"):
        fetch("lock/gated", "hf_wrong")
    assert Path(fetch("lock/gated", "hf_right")).read_text().startswith("---")
    url = f"{server.url}/api/models/lock/private"
    assert raw(url, {"Authorization": "Bearer hf_wrong"})[0] == 404  # as if it did not exist
    assert raw(url, {"Authorization": "Bearer hf_right"})[0] == 200
    listed = [m.id for m in HfApi(endpoint=server.url, token="hf_wrong").list_models()]
    assert "lock/private" not in listed and "acme/open" in listed
    assert "lock/private" in [
        m.id for m in HfApi(endpoint=server.url, token="hf_right").list_models()
    ]


def test_tokens_from_flags_and_environment(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args([str(tmp_path), "--token", "hf_a", "--token", "hf_b"])
    opts = server_options(args, environ={TOKENS_ENV: " hf_c, ,hf_d "})
    assert opts["tokens"] == ["hf_a", "hf_b", "hf_c", "hf_d"]
    assert server_options(parser.parse_args([str(tmp_path)]), environ={})["tokens"] == []
    with pytest.raises(ValueError, match="invalid hub token"):
        HubServer(tmp_path, tokens=["has space"])


# --------------------------------------------------------------------------- request bodies


def test_request_body_is_capped_and_validated(server: HubServer) -> None:
    port = server.port_bound
    path = "/api/models/acme/open/paths-info/main"
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
    started = time.monotonic()
    huge = exchange(port, head + b"Content-Length: 1000000000000\r\n\r\n{")
    assert status_of(huge) == 413 and b"over this server's limit of 1048576 bytes" in huge
    assert time.monotonic() - started < 3  # answered without waiting for (or reading) a body
    for bad in (b"-5", b"12abc", b"1e3", b"0x10"):
        answer = exchange(port, head + b"Content-Length: " + bad + b"\r\n\r\n")
        assert status_of(answer) == 400 and b"invalid Content-Length" in answer, bad
    twice = exchange(port, head + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}")
    assert status_of(twice) == 400 and b"conflicting Content-Length" in twice
    body = json.dumps({"paths": ["README.md"]}).encode()
    ok = exchange(
        port,
        head
        + b"Connection: close\r\nContent-Type: application/json\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body,
    )
    assert status_of(ok) == 200 and b'"README.md"' in ok  # still serving
    assert raw(f"{server.url}/api/models")[0] == 200


# --------------------------------------------------------------------------- connections


def test_connection_cap_refuses_with_503_then_recovers(root: Path) -> None:
    stall = FaultPlan({"stall": 1.0}, stall_s=1.0)  # every request takes a second to answer
    with HubServer(root, max_connections=2, queue_timeout_s=0.3, faults=stall) as hub:
        port = hub.port_bound
        stalled = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
        try:
            for i, sock in enumerate(stalled):  # two requests being answered: busy, not evicted
                sock.sendall(f"GET /api/models/acme/open?n={i} HTTP/1.1\r\n".encode())
                sock.sendall(f"Host: 127.0.0.1:{port}\r\n\r\n".encode())
            time.sleep(0.2)
            refused = exchange(
                port, f"GET /api/models HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
            )
            assert status_of(refused) == 503 and b"Retry-After: 1" in refused
            assert b"maximum of 2 connections" in refused
            assert hub.rejected_connections == 1
        finally:
            for sock in stalled:
                sock.close()
        deadline = time.monotonic() + 5
        while raw(f"{hub.url}/api/models")[0] != 200:  # slots come back when sockets close
            assert time.monotonic() < deadline, "server did not recover after clients left"
            time.sleep(0.05)


def test_idle_connections_time_out_and_make_room(root: Path) -> None:
    with HubServer(root, max_connections=1, queue_timeout_s=2, idle_timeout_s=0.5) as hub:
        port = hub.port_bound
        with socket.create_connection(("127.0.0.1", port), timeout=5) as idle:
            started = time.monotonic()
            assert idle.recv(1) == b""  # the server hung up on a silent client
            assert 0.4 < time.monotonic() - started < 3
    with HubServer(root, max_connections=1, queue_timeout_s=3, idle_timeout_s=30) as hub:
        with socket.create_connection(("127.0.0.1", hub.port_bound), timeout=5) as idle:
            time.sleep(0.7)  # idle longer than the eviction threshold, far below the time-out
            started = time.monotonic()
            assert raw(f"{hub.url}/api/models")[0] == 200  # took the idle one's slot
            assert time.monotonic() - started < 2.5
            assert idle.recv(1) == b""
        assert hub.rejected_connections == 0
