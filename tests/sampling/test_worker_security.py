"""The warm worker's files in a shared temp dir: its folder is never a link, another user's or
open to others, links planted inside it are never followed, and its key is a 0600 file of
this user, checked by the run before connecting and by the worker before listening."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from fakeimg_assets.sampling import worker
from fakeimg_assets.sampling import worker_client as client
from fakeimg_assets.sampling import worker_files as files


@pytest.fixture
def tmpdir_(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp dir of the test's own standing in for /tmp (shared by every local user)."""
    shared = tmp_path / "tmp"
    shared.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    return shared


def _dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def _victim(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """Another user's folder holding what looks like a dead worker's files, and more."""
    victim = tmp_path / "victim"
    victim.mkdir()
    content = {"deadbeef00000001.pid": str(_dead_pid()).encode(), "deadbeef00000001.sock": b"s",
               "deadbeef00000001.key": b"k" * 32, "thesis.tex": b"years of work"}
    for name, data in content.items():
        (victim / name).write_bytes(data)
    return victim, content


def _intact(folder: Path, content: dict[str, bytes]) -> bool:
    return {p.name: p.read_bytes() for p in folder.iterdir()} == content


def test_a_symlink_in_place_of_the_worker_folder_is_refused_and_never_swept(
    tmpdir_: Path, tmp_path: Path, home: Path
) -> None:
    victim, content = _victim(tmp_path)
    link = tmpdir_ / f"fakeimg-workers-{os.getuid()}"
    link.symlink_to(victim)
    for attempt in (lambda: files.worker_address(home, "cpu", "auto"),
                    lambda: files.sweep(link),
                    lambda: client.connect_or_start(home, "cpu", "auto", idle_seconds=1,
                                                    max_requests=1)):
        with pytest.raises(files.WorkerError, match="is a symlink; it is never followed") as e:
            attempt()
        assert str(link) in str(e.value) and "remove it" in str(e.value)
    assert _intact(victim, content)
    assert link.is_symlink()


@pytest.mark.parametrize("kind", ["other_owner", "group_open", "world_open", "a_file"])
def test_a_worker_folder_that_is_not_private_is_refused_by_name(
    kind: str, tmpdir_: Path, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "other_owner":  # the folder exists, made by "someone else" (another uid)
        monkeypatch.setattr(os, "getuid", lambda: os.geteuid() + 4242)
    folder = tmpdir_ / f"fakeimg-workers-{os.getuid()}"
    if kind == "a_file":
        folder.write_bytes(b"")
    else:
        folder.mkdir(mode=0o700)
        os.chmod(folder, {"other_owner": 0o700, "group_open": 0o750, "world_open": 0o777}[kind])
        (folder / "deadbeef00000001.pid").write_text(str(_dead_pid()))
    expected = {"other_owner": f"owned by uid {os.geteuid()}, not by you",
                "group_open": "has mode 0o750", "world_open": "has mode 0o777",
                "a_file": "is not a folder"}[kind]
    with pytest.raises(files.WorkerError, match=expected) as caught:
        files.worker_address(home, "cpu", "auto")
    assert str(folder) in str(caught.value)
    if kind != "a_file":
        with pytest.raises(files.WorkerError, match=expected):
            files.sweep(folder)
        assert (folder / "deadbeef00000001.pid").exists()  # never swept


def test_a_private_folder_is_created_0700_and_accepted(tmpdir_: Path, home: Path) -> None:
    address = files.worker_address(home, "cpu", "auto")
    assert address.socket.parent == tmpdir_ / f"fakeimg-workers-{os.getuid()}"
    st = os.lstat(address.socket.parent)
    assert (st.st_mode & 0o777) == 0o700 and st.st_uid == os.getuid()
    assert files.worker_address(home, "cpu", "auto") == address  # an existing one is reused


def test_links_planted_in_the_folder_are_never_followed(
    tmpdir_: Path, tmp_path: Path, home: Path
) -> None:
    victim, content = _victim(tmp_path)
    address = files.worker_address(home, "cpu", "auto")
    folder = address.socket.parent
    # a pid link to a file holding a live pid (ours), and key/socket links to precious files
    (victim / "live.pid").write_text(str(os.getpid()))
    content["live.pid"] = str(os.getpid()).encode()
    address.pid.symlink_to(victim / "live.pid")
    address.key.symlink_to(victim / "deadbeef00000001.key")
    address.socket.symlink_to(victim / "deadbeef00000001.sock")
    other = folder / "feedface00000001.pid"
    other.symlink_to(victim / "deadbeef00000001.pid")
    assert files.worker_pid(address) is None  # not read through the link
    assert not files.socket_ready(address)  # a link is not the worker's socket
    with pytest.raises(files.WorkerError, match="is a symlink; it is never followed"):
        files.read_key(address)
    files.write_key(address)  # replaces the link with a fresh file, the target untouched
    assert not address.key.is_symlink() and len(address.key.read_bytes()) == files.KEY_BYTES
    assert files.sweep(folder) == 4  # a link counts as no pid: its entries go, as entries
    assert not any(p.is_symlink() for p in folder.iterdir())
    assert _intact(victim, content)


def test_the_key_file_is_written_0600_whatever_the_umask(tmpdir_: Path, home: Path) -> None:
    address = files.worker_address(home, "cpu", "auto")
    old = os.umask(0)
    try:
        key = files.write_key(address)
    finally:
        os.umask(old)
    st = os.lstat(address.key)
    assert (st.st_mode & 0o777) == 0o600 and st.st_uid == os.getuid()
    assert files.read_key(address) == key and len(key) == files.KEY_BYTES


@pytest.mark.parametrize("kind", ["world_readable", "group_readable", "empty", "other_owner",
                                  "a_link", "a_folder"])
def test_a_key_file_others_could_use_is_refused_by_the_run_and_the_worker(
    kind: str, home: Path, tmp_path: Path
) -> None:
    """In the real temp dir: the run finds a socket and a bad key and refuses to connect
    (or to start another worker); a worker started on such a key refuses to listen."""
    address = files.worker_address(home, "cpu", "auto")
    files.write_key(address)
    target = tmp_path / "elsewhere.key"
    if kind == "world_readable":
        os.chmod(address.key, 0o644)
    elif kind == "group_readable":
        os.chmod(address.key, 0o640)
    elif kind == "empty":  # an empty key would switch multiprocessing's authentication off
        address.key.write_bytes(b"")
    elif kind == "other_owner":
        if os.geteuid() != 0:
            pytest.skip("giving a file to another user needs root")
        os.chown(address.key, 65534, 65534)
    elif kind == "a_link":
        target.write_bytes(b"k" * files.KEY_BYTES)
        target.chmod(0o600)
        address.key.unlink()
        address.key.symlink_to(target)
    else:
        address.key.unlink()
        address.key.mkdir()
    expected = {"world_readable": "has mode 0o644; it must be 0600",
                "group_readable": "has mode 0o640; it must be 0600",
                "empty": "holds 0 bytes, not 32", "other_owner": "owned by uid 65534",
                "a_link": "is a symlink", "a_folder": "not a regular file"}[kind]
    bound = socket.socket(socket.AF_UNIX)
    try:
        bound.bind(str(address.socket))  # a worker seems to be there
        with pytest.raises(files.WorkerError, match=expected) as by_run:
            client.connect_or_start(home, "cpu", "auto", idle_seconds=1, max_requests=1)
        assert str(address.key) in str(by_run.value) and "stop the worker" in str(by_run.value)
        assert files.worker_pid(address) is None  # no worker was started instead
        bound.close()
        address.socket.unlink()
        with pytest.raises(files.WorkerError, match=expected):
            worker.serve(address, idle_seconds=1, max_requests=1)
        assert not address.socket.exists() and not address.pid.exists()  # never listened
    finally:
        bound.close()
        for path in (address.socket, address.pid, address.key):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
    if kind == "a_link":
        assert target.read_bytes() == b"k" * files.KEY_BYTES
