"""The local Hub's upload routes under attack: hostile commit paths, an LFS body that is not
the announced oid, a commit naming an object never uploaded, a forged ticket, a symlink out
of the repo, writes without a token. Nothing may land outside the repo folder, and nothing
unchecked may land inside it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fakeimg_assets.testbed.local_hub.server import HubServer

TOKEN = "hf_upload_test"


def _call(url: str, method: str, body: bytes | None = None, *, token: str | None = TOKEN,
          ctype: str = "application/json") -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _ndjson(*ops: dict) -> bytes:
    lines = [{"key": "header", "value": {"summary": "test", "description": ""}}, *ops]
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def _file(path: str, data: bytes = b"hello") -> dict:
    return {"key": "file", "value": {"path": path, "encoding": "base64",
                                     "content": base64.b64encode(data).decode()}}


@pytest.fixture
def hub(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    with HubServer(root, tokens=[TOKEN]) as server:
        status, _ = _call(f"{server.url}/api/repos/create", "POST",
                          json.dumps({"name": "ds", "organization": "me",
                                      "type": "dataset"}).encode())
        assert status == 200
        yield server


def _files_under(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}


@pytest.mark.parametrize("bad", [
    "../escape.txt", "data/../../escape.txt", "/abs.txt", "C:/win.txt", "a\\b.txt",
    ".git/config", ".hub.json", ".cache/x", "a//b", "./a", "tab\there", "x/..",
])
def test_hostile_commit_paths_are_refused_and_nothing_is_written(hub, tmp_path: Path,
                                                                 bad: str) -> None:
    before = _files_under(tmp_path)
    status, body = _call(f"{hub.url}/api/datasets/me/ds/commit/main", "POST",
                         _ndjson(_file("ok.txt"), _file(bad)), ctype="application/x-ndjson")
    assert status == 400, body
    assert "invalid path" in body["error"]
    assert _files_under(tmp_path) == before  # not even the valid file of the same commit


def test_a_symlink_in_the_repo_cannot_carry_a_write_outside(hub, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, hub.root / "datasets" / "me" / "ds" / "data")
    status, body = _call(f"{hub.url}/api/datasets/me/ds/commit/main", "POST",
                         _ndjson(_file("data/x.parquet")), ctype="application/x-ndjson")
    assert status == 400 and "link" in body["error"]
    assert not list(outside.iterdir())


def _batch(hub, data: bytes, oid: str | None = None) -> str:
    oid = oid or hashlib.sha256(data).hexdigest()
    status, body = _call(f"{hub.url}/datasets/me/ds.git/info/lfs/objects/batch", "POST",
                         json.dumps({"operation": "upload", "transfers": ["basic"],
                                     "objects": [{"oid": oid, "size": len(data)}]}).encode())
    assert status == 200 and body["transfer"] == "basic"
    return body["objects"][0]["actions"]["upload"]["href"]


def test_lfs_bytes_that_do_not_match_the_oid_are_refused_and_not_kept(hub) -> None:
    real = b"the real bytes" * 100
    href = _batch(hub, real)
    status, body = _call(href, "PUT", b"other bytes!" * 100 + b"xx" * 100, token=None,
                         ctype="application/octet-stream")
    assert status == 400 and "announced" in body["error"]  # size differs
    href = _batch(hub, real)
    forged = bytearray(real)
    forged[0] ^= 1
    status, body = _call(href, "PUT", bytes(forged), token=None, ctype="application/octet-stream")
    assert status == 400 and "not the announced oid" in body["error"]
    store = hub.root / ".lfs-objects"
    assert not store.exists() or not list(store.iterdir())  # no object, no staging file
    oid = hashlib.sha256(real).hexdigest()
    status, body = _call(f"{hub.url}/api/datasets/me/ds/commit/main", "POST", _ndjson(
        {"key": "lfsFile", "value": {"path": "data/a.parquet", "algo": "sha256", "oid": oid,
                                     "size": len(real)}}), ctype="application/x-ndjson")
    assert status == 400 and "never uploaded" in body["error"]
    assert not (hub.root / "datasets" / "me" / "ds" / "data").exists()


def test_a_ticket_is_needed_once_and_for_its_own_oid(hub) -> None:
    data = b"payload" * 50
    href = _batch(hub, data)
    base, _, ticket = href.partition("?ticket=")
    status, _ = _call(f"{base}?ticket=forged", "PUT", data, token=None,
                      ctype="application/octet-stream")
    assert status == 403
    other = hashlib.sha256(b"x").hexdigest()
    status, _ = _call(base.rsplit("/", 1)[0] + f"/{other}?ticket={ticket}", "PUT", data,
                      token=None, ctype="application/octet-stream")
    assert status == 403  # ticket of another oid (and now spent)
    status, _ = _call(_batch(hub, data), "PUT", data, token=None, ctype="application/octet-stream")
    assert status == 200
    oid = hashlib.sha256(data).hexdigest()
    status, body = _call(f"{hub.url}/api/datasets/me/ds/commit/main", "POST", _ndjson(
        {"key": "lfsFile", "value": {"path": "data/a.parquet", "algo": "sha256", "oid": oid,
                                     "size": len(data)}}), ctype="application/x-ndjson")
    assert status == 200 and body["success"]
    assert (hub.root / "datasets/me/ds/data/a.parquet").read_bytes() == data


def test_writes_need_a_listed_token_and_a_server_without_tokens_is_read_only(
        hub, tmp_path: Path) -> None:
    create = json.dumps({"name": "x", "organization": "me", "type": "dataset"}).encode()
    assert _call(f"{hub.url}/api/repos/create", "POST", create, token=None)[0] == 401
    assert _call(f"{hub.url}/api/repos/create", "POST", create, token="hf_wrong")[0] == 401
    status, _ = _call(f"{hub.url}/api/datasets/me/ds/commit/main", "POST",
                      _ndjson(_file("a.txt")), token=None, ctype="application/x-ndjson")
    assert status == 401 and not (hub.root / "datasets/me/ds/a.txt").exists()
    for bad in ("..", "a/b", "-x", ""):
        body = json.dumps({"name": bad, "organization": "me", "type": "dataset"}).encode()
        assert _call(f"{hub.url}/api/repos/create", "POST", body)[0] == 400
    ro_root = tmp_path / "ro"
    ro_root.mkdir()
    with HubServer(ro_root) as ro:
        assert _call(f"{ro.url}/api/repos/create", "POST", create)[0] == 403
    assert not list(ro_root.iterdir())


def test_the_xet_token_route_says_no_so_clients_take_lfs(hub) -> None:
    status, body = _call(f"{hub.url}/api/datasets/me/ds/xet-write-token/main", "GET")
    assert status == 404 and "Xet" in body["error"]
