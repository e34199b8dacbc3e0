"""The local Hub under abuse: trickled requests, symlinks out of the root, probing private repos.

Raw sockets for the trickling clients (no client library sends a body a byte at a time), the
real huggingface_hub client where users meet the answer, real symlinks to a folder holding a
canary secret.
"""

from __future__ import annotations

import http.client
import select
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

from fakeimg_assets.testbed.local_hub.server import HubServer
from tests.helpers.hub_repos import make_repo, raw

CANARY = "canary-secret-4f1d"


def _post_head(port: int, length: int) -> bytes:
    return (
        f"POST /api/models/acme/open/paths-info/main HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{"
    ).encode()


def _get(url: str, timeout: float) -> int:
    """Status of a plain GET; raises if nothing answers within ``timeout`` seconds."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as resp:
        resp.read()
        return int(resp.status)


def _ended(sock: socket.socket) -> bytes | None:
    """What the server sent before ending the connection, or None while it is still open."""
    if not select.select([sock], [], [], 0)[0]:
        return None
    chunks = []
    try:
        sock.settimeout(2)
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, TimeoutError):
        pass
    return b"".join(chunks)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("abuse-root")
    make_repo(base, "acme/open")
    return base


# --------------------------------------------------------------------------- trickled requests


def test_trickled_bodies_do_not_starve_a_normal_request(root: Path) -> None:
    """40 clients sending a POST body a byte at a time, the default 32 connections: a normal
    GET still gets its answer, because connections still sending a request are evictable."""
    with HubServer(root, request_timeout_s=60) as hub:  # only eviction can help here
        port = hub.port_bound
        tricklers = []
        try:
            for _ in range(40):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(_post_head(port, 1000))
                tricklers.append(sock)
            for sock in tricklers:  # one more byte each: still sending, never done
                try:
                    sock.sendall(b" ")
                except OSError:
                    pass  # already evicted
            assert _get(f"{hub.url}/api/models", timeout=20) == 200  # liveness, not speed
            # the tricklers that lost their slot were closed (40 + 1 connections, 32 slots)
            assert sum(_ended(s) is not None for s in tricklers) >= 40 + 1 - hub.max_connections
            assert hub.rejected_connections == 0
        finally:
            for sock in tricklers:
                sock.close()


def test_a_request_must_arrive_within_the_request_timeout(root: Path) -> None:
    """A byte every 0.2 s never trips the 30 s idle time-out, but the whole request must be
    in within 1 s: body and header tricklers get 408 and are closed; an idle keep-alive
    connection is not a request yet, so its clock starts with its next request's first byte."""
    with HubServer(root, request_timeout_s=1, idle_timeout_s=30) as hub:
        port = hub.port_bound
        idle = socket.create_connection(("127.0.0.1", port), timeout=5)  # never sent a byte
        kept = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # answered once
        kept.request("GET", "/api/models")
        assert kept.getresponse().read() and kept.sock is not None
        kept_sock = kept.sock
        body = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
        head = socket.create_connection(("127.0.0.1", port), timeout=5)
        for sock in body:
            sock.sendall(_post_head(port, 1000))
        head.sendall(f"GET /api/models HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
        answers: dict[socket.socket, bytes] = {}
        started = time.monotonic()
        while len(answers) < 4 and time.monotonic() - started < 10:
            for sock in [*body, head]:
                if sock in answers:
                    continue
                got = _ended(sock)
                if got is not None:
                    answers[sock] = got
                    continue
                try:
                    sock.sendall(b"X-Slow: 1\r\n" if sock is head else b" ")
                except OSError:
                    pass
            time.sleep(0.2)
        assert len(answers) == 4, "trickling connections were still open after 10 s"
        for sock in [*body, head]:
            assert answers[sock].startswith(b"HTTP/1.1 408 "), answers[sock][:80]
            assert b"not received in full within 1 s" in answers[sock]
            sock.close()
        assert [r.status for r in hub.requests].count(408) == 4
        # both idle connections have been open longer than the request time-out: still served
        kept.request("GET", "/api/models")
        again = kept.getresponse()
        assert again.status == 200 and b"acme/open" in again.read()
        assert kept.sock is kept_sock  # the same keep-alive connection, not a reconnect
        kept.close()
        idle.sendall(
            f"GET /api/models HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            .encode()
        )
        idle.settimeout(5)
        answer = b""
        while chunk := idle.recv(65536):
            answer += chunk
        idle.close()
        assert answer.startswith(b"HTTP/1.1 200 ") and b"acme/open" in answer


def test_request_timeout_is_validated(root: Path) -> None:
    for bad in (0, -1, True, "5"):
        with pytest.raises(ValueError, match="request_timeout_s must be a positive number"):
            HubServer(root, request_timeout_s=bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- symlinks


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubServer, Path]]:
    """A root with a real repo, a repo that is a symlink to a folder outside the root, an org
    that is such a symlink, a dataset repo that is one, and a repo with file and folder
    symlinks pointing outside it (to a canary) and inside it."""
    base = tmp_path_factory.mktemp("linked")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    make_repo(outside, "evil/secret-repo")  # a perfectly valid repo, just outside the root
    (outside / "evil" / "secret-repo" / "secret.txt").write_text(CANARY)
    (outside / "canary.txt").write_text(CANARY)
    repo = make_repo(root, "acme/open")
    (root / "acme" / "linked-out").symlink_to(outside / "evil" / "secret-repo")
    (root / "evilorg").symlink_to(outside / "evil")  # the org folder itself leaves the root
    (root / "datasets" / "acme").mkdir(parents=True)
    (root / "datasets" / "acme" / "data-out").symlink_to(outside / "evil" / "secret-repo")
    (repo / "leak.txt").symlink_to(outside / "canary.txt")
    (repo / "leakdir").symlink_to(outside)
    (repo / "unet" / "leak2.json").symlink_to(outside / "canary.txt")
    (repo / "alias.json").symlink_to(repo / "model_index.json")  # inside the repo: fine
    with HubServer(root) as hub:
        yield hub, outside


def test_repo_symlinked_out_of_the_root_is_a_missing_repo(
    linked: tuple[HubServer, Path], tmp_path: Path
) -> None:
    hub, _ = linked
    api = HfApi(endpoint=hub.url, token=False)
    listed = {m.id for m in api.list_models()}
    assert listed == {"acme/open"}  # neither the linked repo nor the linked org's repos
    assert hub._model_folders.repo_ids() == [("acme", "open")]  # the count `hub serve` prints
    missing_status, missing_headers, missing_body = raw(f"{hub.url}/api/models/acme/never")
    for repo_id in ("acme/linked-out", "evilorg/secret-repo"):
        for route in ("", "/revision/main", "/tree/main", "/resolve/main/secret.txt"):
            status, headers, body = raw(f"{hub.url}/api/models/{repo_id}{route}")
            assert (status, headers["X-Error-Code"]) == (404, "RepoNotFound"), (repo_id, route)
            assert CANARY.encode() not in body
        status, _, body = raw(f"{hub.url}/{repo_id}/resolve/main/secret.txt")
        assert status == 404 and CANARY.encode() not in body
        with pytest.raises(RepositoryNotFoundError):
            hf_hub_download(repo_id, "secret.txt", cache_dir=tmp_path, endpoint=hub.url,
                            token=False)
    assert missing_status == 404 and missing_headers["X-Error-Code"] == "RepoNotFound"
    status, headers, body = raw(f"{hub.url}/api/datasets/acme/data-out")
    assert (status, headers["X-Error-Code"]) == (404, "RepoNotFound")
    status, _, body = raw(f"{hub.url}/datasets/acme/data-out/resolve/main/secret.txt")
    assert status == 404 and CANARY.encode() not in body


def test_datasets_folder_symlinked_out_of_the_root_is_not_served(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    make_repo(root, "acme/open")
    make_repo(outside, "acme/photos")
    (outside / "acme" / "photos" / "secret.txt").write_text(CANARY)
    (root / "datasets").symlink_to(outside)
    with HubServer(root) as hub:
        status, headers, _ = raw(f"{hub.url}/api/datasets/acme/photos")
        assert (status, headers["X-Error-Code"]) == (404, "RepoNotFound")
        status, _, body = raw(f"{hub.url}/datasets/acme/photos/resolve/main/secret.txt")
        assert status == 404 and CANARY.encode() not in body


def test_files_symlinked_out_of_a_repo_are_never_served(
    linked: tuple[HubServer, Path], tmp_path: Path
) -> None:
    hub, _ = linked
    info = HfApi(endpoint=hub.url, token=False).model_info("acme/open", files_metadata=True)
    names = {s.rfilename for s in info.siblings or []}
    assert "alias.json" in names and "model_index.json" in names
    assert not {"leak.txt", "unet/leak2.json"} & names
    assert not any(n.startswith("leakdir/") for n in names)
    for path in ("leak.txt", "unet/leak2.json", "leakdir/canary.txt"):
        status, headers, body = raw(f"{hub.url}/acme/open/resolve/main/{path}")
        assert (status, headers.get("X-Error-Code")) == (404, "EntryNotFound"), path
        assert CANARY.encode() not in body
    status, _, body = raw(f"{hub.url}/acme/open/resolve/main/alias.json")
    assert status == 200 and b"StableDiffusionPipeline" in body


def test_a_file_turned_into_a_symlink_after_listing_is_not_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race between listing a repo and opening its file: the file is swapped for a
    symlink out of the repo in between. Containment is checked again when serving."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    (outside / "canary.txt").write_text(CANARY)
    repo = make_repo(root, "acme/open")
    with HubServer(root) as hub:
        listed = hub._model_folders.load("acme", "open")  # the listing taken before the swap
        assert listed is not None and "vae/config.json" in listed.files
        target = repo / "vae" / "config.json"
        target.unlink()
        target.symlink_to(outside / "canary.txt")
        monkeypatch.setattr(hub._model_folders, "load", lambda org, name: listed)  # freeze the race
        status, headers, body = raw(f"{hub.url}/acme/open/resolve/main/vae/config.json")
        assert (status, headers.get("X-Error-Code")) == (404, "EntryNotFound")
        assert CANARY.encode() not in body
        assert raw(f"{hub.url}/acme/open/resolve/main/unet/config.json")[0] == 200


# --------------------------------------------------------------------------- private repos


@pytest.fixture(scope="module")
def private_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    base = tmp_path_factory.mktemp("private")
    make_repo(base, "acme/open")
    make_repo(base, "lock/private", hub={"private": True})
    make_repo(base, "lock/gated", hub={"gated": "auto"})
    with HubServer(base, tokens=["hf_right"]) as hub:
        yield hub


ROUTES = ("", "/revision/main", "/tree/main", "/refs", "/resolve/main/README.md")


@pytest.mark.parametrize("token", [None, "hf_wrong"])
def test_private_repo_answers_exactly_like_a_missing_one(
    private_hub: HubServer, token: str | None
) -> None:
    hub = private_hub
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for route in ROUTES:
        private = raw(f"{hub.url}/api/models/lock/private{route}", headers)
        missing = raw(f"{hub.url}/api/models/lock/missing{route}", headers)
        assert private[0] == missing[0] == 404, route
        assert private[1]["X-Error-Code"] == missing[1]["X-Error-Code"] == "RepoNotFound"
        same = private[1]["X-Error-Message"].replace("private", "missing")
        assert same == missing[1]["X-Error-Message"], route
        assert private[2].replace(b"private", b"missing") == missing[2], route
    private = raw(f"{hub.url}/lock/private/resolve/main/README.md", headers)
    missing = raw(f"{hub.url}/lock/missing/resolve/main/README.md", headers)
    assert private[0] == missing[0] == 404
    assert private[2].replace(b"private", b"missing") == missing[2]


def test_client_sees_private_as_not_found_and_gated_as_gated(
    private_hub: HubServer, tmp_path: Path
) -> None:
    hub = private_hub
    for token in (False, "hf_wrong"):
        api = HfApi(endpoint=hub.url, token=token)
        for repo_id in ("lock/private", "lock/missing"):
            with pytest.raises(RepositoryNotFoundError):
                api.model_info(repo_id)
            with pytest.raises(RepositoryNotFoundError):
                hf_hub_download(repo_id, "README.md", cache_dir=tmp_path, endpoint=hub.url,
                                token=token)
        with pytest.raises(GatedRepoError):  # gated keeps its own answer (401/403 GatedRepo)
            hf_hub_download("lock/gated", "README.md", cache_dir=tmp_path, endpoint=hub.url,
                            token=token)
    status, headers, _ = raw(f"{hub.url}/lock/gated/resolve/main/README.md")
    assert (status, headers["X-Error-Code"]) == (401, "GatedRepo")
    assert HfApi(endpoint=hub.url, token="hf_right").model_info("lock/private").private
