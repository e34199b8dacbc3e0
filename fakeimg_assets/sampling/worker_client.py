"""The run's side of the warm sampling worker (`worker.py`): connect, or start one, send the
torch half of a partition, and turn a dead or hung worker into that partition's error.

The key file is checked before every use (a regular 0600 file of this user, not a link:
`worker_files.read_key`), and the worker's answer is decoded as data
(`worker_protocol.recv_answer`), never unpickled."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client
from pathlib import Path
from typing import Any

from fakeimg_assets.lib.errors import ResourceLimitError
from fakeimg_assets.sampling.execute import SampleOutcome, SampleRequest
from fakeimg_assets.sampling.worker_files import (
    HANG_GRACE_S,
    START_TIMEOUT_S,
    WorkerAddress,
    WorkerError,
    open_folder,
    read_key,
    remove_files,
    socket_ready,
    sweep,
    worker_address,
    worker_pid,
    write_key,
)
from fakeimg_assets.sampling.worker_protocol import WorkerFailure, encode_request, recv_answer


def _connect(address: WorkerAddress) -> Any | None:
    """A connection to a live worker, or None (no socket, or a dead worker's socket).

    A key file others could read, or a link, is refused with a WorkerError naming it."""
    if not socket_ready(address):
        return None
    try:
        key = read_key(address)
    except FileNotFoundError:
        return None
    try:  # waits here while the worker serves another run (one request at a time)
        return Client(str(address.socket), family="AF_UNIX", authkey=key)
    except (ConnectionRefusedError, FileNotFoundError, EOFError, ConnectionResetError,
            BrokenPipeError, AuthenticationError):  # gone, or died while we queued
        return None


def _spawn(address: WorkerAddress, home: Path, device: str, dtype: str,
           idle_seconds: float, max_requests: int) -> None:
    remove_files(address)
    write_key(address)
    address.log.parent.mkdir(parents=True, exist_ok=True)
    with open(address.log, "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "fakeimg_assets.sampling.worker", "--home", str(home),
             "--device", device, "--dtype", dtype, "--idle-seconds", str(idle_seconds),
             "--max-requests", str(max_requests)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the run that started it
            cwd=str(Path(__file__).resolve().parents[2]),
        )


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """One starter at a time for all workers in the folder (starts are rare)."""
    with open_folder(folder) as fd:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield


def connect_or_start(home: Path, device: str, dtype: str, *, idle_seconds: float,
                     max_requests: int) -> tuple[Any, WorkerAddress]:
    """A connection to this home's worker, starting one if none is alive (one starter at a
    time: concurrent runs wait on a lock instead of starting two)."""
    address = worker_address(home, device, dtype)
    conn = _connect(address)
    if conn is not None:
        return conn, address
    with _folder_lock(address.socket.parent):
        conn = _connect(address)
        if conn is None:
            sweep(address.socket.parent)
            _spawn(address, home, device, dtype, idle_seconds, max_requests)
            give_up = time.monotonic() + START_TIMEOUT_S
            while conn is None and time.monotonic() < give_up:
                time.sleep(0.05)
                conn = _connect(address)
            if conn is None:
                raise WorkerError(f"the sampling worker did not start within {START_TIMEOUT_S:g} "
                                  f"s; its log: {address.log}")
    return conn, address


def stop_worker(home: Path, device: str = "auto", dtype: str = "auto") -> bool:
    """Stop this home's worker now (benchmarks, tests, a user freeing GPU memory); False if
    none was running. The next warm-worker run starts a new one."""
    address = worker_address(home, device, dtype)
    pid = worker_pid(address)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    finally:
        remove_files(address)
    return True


def sample_in_worker(request: SampleRequest, home: Path, *, on_stage: Any = None,
                     idle_seconds: float = 600.0, max_requests: int = 200) -> SampleOutcome:
    """Send one partition's torch half to the warm worker; its errors are raised here, rebuilt
    with their type, message and stage (`worker_errors.py`)."""
    on_stage = on_stage or (lambda _s: None)
    on_stage("load")
    data = encode_request(request)  # a field the worker would refuse fails here, by name
    conn, address = connect_or_start(home, request.device, request.dtype,
                                     idle_seconds=idle_seconds, max_requests=max_requests)
    pid = worker_pid(address)
    try:
        conn.send_bytes(data)
        if not conn.poll(request.max_seconds + HANG_GRACE_S):
            if pid:
                os.kill(pid, signal.SIGKILL)

            raise ResourceLimitError(
                f"{request.model_id}: the sampling worker gave no answer within the partition's "
                f"time budget + {HANG_GRACE_S:g} s; it was killed (its log: {address.log})")
        answer = recv_answer(conn)
    except (EOFError, ConnectionResetError, BrokenPipeError) as exc:
        raise WorkerError(
            f"{request.model_id}: the sampling worker (pid {pid}) exited while sampling this "
            f"model; its log: {address.log}. The next run starts a fresh worker.") from exc
    finally:
        conn.close()
    if isinstance(answer, WorkerFailure):
        on_stage(answer.stage)
        raise answer.error
    return answer
