"""A warm sampling worker: torch, diffusers and transformers imported once, not per run.

The daemon starts every run in a fresh process. On a small machine importing the torch
stack (about 7 s) costs more than sampling a tiny model (about 2 s), so a backfill of many
partitions spent most of its time importing. Runs with `ComputeResource(sampler=
"warm_worker")` send the torch half of sampling (`execute.execute`) to a long-lived worker
instead; everything else (Hub calls, downloads, writes) stays in the run.

- One worker per (home, device, dtype, code fingerprint): edited code gets a fresh worker,
  the old one idles out. It serves one request at a time (the `gpu` pool already lets one
  sampling step per device run at once; other runs queue on its socket) and exits after
  `idle_seconds` without work or after `max_requests` (memory that leaks in torch or a
  pipeline cannot pile up forever).
- A repo that makes the worker die fails its own partition with an error naming the
  worker's log; the next run starts a new worker. A request that overruns its time budget
  by `HANG_GRACE_S` ends the worker twice over: its own watchdog exits, and the waiting run
  kills it (the in-run path would be killed with its run).
- The socket lives in a private folder (0700) and connections are authenticated with a
  random key in a 0600 file (`multiprocessing.connection`'s HMAC handshake), so only this
  user's processes can submit work or read results.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import pickle
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener
from pathlib import Path
from typing import Any

from fakeimg_assets.integrity.leftovers import pid_alive
from fakeimg_assets.sampling.execute import SampleOutcome, SampleRequest, execute

HANG_GRACE_S = 60.0  # past the request's own time budget before the worker counts as hung
START_TIMEOUT_S = 120.0  # a new worker must listen within this long


class WorkerError(RuntimeError):
    """The warm worker could not be started or died; names its log."""


@dataclass(frozen=True)
class WorkerAddress:
    """Where one worker listens, keeps its key, pid and log."""

    socket: Path
    key: Path
    pid: Path
    log: Path


def code_fingerprint() -> str:
    """Changes whenever any fakeimg source file changes, so a worker never runs stale code."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def worker_address(home: Path, device: str, dtype: str) -> WorkerAddress:
    """A short socket path (AF_UNIX paths are limited to 107 bytes) in a private folder."""
    folder = Path(tempfile.gettempdir()) / f"fakeimg-workers-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.getuid() or folder.stat().st_mode & 0o077:
        raise WorkerError(f"{folder} is not a private folder of this user; remove it")
    ident = f"{Path(home).resolve()}|{device}|{dtype}|{code_fingerprint()}|{sys.prefix}"
    name = hashlib.sha256(ident.encode()).hexdigest()[:16]
    logs = Path(home) / "logs"
    return WorkerAddress(folder / f"{name}.sock", folder / f"{name}.key", folder / f"{name}.pid",
                         logs / f"sampling-worker-{name}.log")


# -- the worker process ---------------------------------------------------------------------
class _Watchdog:
    """Exits the process once idle for `idle_seconds`, or once the current phase overruns its
    limit (a request past its time budget + `HANG_GRACE_S`, a client that never sends): the
    worker guards itself, so a run that died waiting cannot leave it hung for the next."""

    def __init__(self, idle_seconds: float, address: WorkerAddress) -> None:
        self.idle_seconds, self.address = idle_seconds, address
        self.lock = threading.Lock()
        self.since = time.monotonic()
        self.busy = False
        self.limit: float | None = None
        threading.Thread(target=self._watch, daemon=True).start()

    def start(self, limit: float | None) -> None:
        with self.lock:
            self.busy, self.since, self.limit = True, time.monotonic(), limit

    def done(self) -> None:
        with self.lock:
            self.busy, self.since, self.limit = False, time.monotonic(), None

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.idle_seconds / 4))
            with self.lock:
                waited = time.monotonic() - self.since
                if not self.busy and waited > self.idle_seconds:
                    self._exit(0, f"idle for {self.idle_seconds:g} s: exiting")
                if self.busy and self.limit is not None and waited > self.limit:
                    self._exit(3, f"a request ran {waited:.0f} s, past its limit of "
                                  f"{self.limit:.0f} s: exiting so the next run gets a fresh worker")

    def _exit(self, code: int, message: str) -> None:
        _remove_own_files(self.address)
        print(message, flush=True)
        os._exit(code)


def _remove_own_files(address: WorkerAddress) -> None:
    """Remove socket and pid file only if they are still this process's."""
    try:
        if int(address.pid.read_text()) != os.getpid():
            return
    except (OSError, ValueError):
        return
    for path in (address.socket, address.pid, address.key):
        path.unlink(missing_ok=True)


def _answer(request: Any) -> tuple:
    """("ok", outcome) or ("error", stage, exception, traceback); never raises."""
    stage = ["load"]
    try:
        if not isinstance(request, SampleRequest):
            raise TypeError(f"expected a SampleRequest, got {type(request).__name__}")
        return ("ok", execute(request, lambda name: stage.__setitem__(0, name)))
    except Exception as exc:  # noqa: BLE001 - reported to the run, which raises it
        return ("error", stage[0], _portable(exc), traceback.format_exc())


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - custom constructors that pickle cannot rebuild
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def serve(address: WorkerAddress, *, idle_seconds: float, max_requests: int) -> None:
    """Listen, warm the imports, then answer requests one at a time."""
    key = address.key.read_bytes()
    address.pid.write_text(str(os.getpid()))  # before listening: a client then knows whom
    address.socket.unlink(missing_ok=True)
    listener = Listener(str(address.socket), family="AF_UNIX", authkey=key)
    watchdog = _Watchdog(idle_seconds, address)
    watchdog.start(START_TIMEOUT_S)
    import diffusers  # noqa: F401 - the point of the worker: paid once
    import torch  # noqa: F401
    import transformers  # noqa: F401

    watchdog.done()
    print(f"worker {os.getpid()} ready on {address.socket}", flush=True)
    served = 0
    while served < max_requests:
        try:
            conn = listener.accept()
        except Exception as exc:  # noqa: BLE001 - a bad handshake must not stop the worker
            print(f"refused a connection: {type(exc).__name__}: {exc}", flush=True)
            continue
        watchdog.start(HANG_GRACE_S)  # a client that connects must send its request
        try:
            request = conn.recv()
            print(f"request {served + 1}: {getattr(request, 'model_id', '?')} started", flush=True)
            watchdog.start(getattr(request, "max_seconds", 0.0) + HANG_GRACE_S)
            t0 = time.perf_counter()
            answer = _answer(request)
            if answer[0] == "ok":
                answer[1].worker = {"mode": "warm_worker", "pid": os.getpid(),
                                    "request": served + 1}
            conn.send(answer)
            print(f"request {served + 1}: {getattr(request, 'model_id', '?')} {answer[0]} in "
                  f"{time.perf_counter() - t0:.2f} s", flush=True)
        except (EOFError, OSError) as exc:  # the run went away (cancelled, killed)
            print(f"lost a run's connection: {type(exc).__name__}: {exc}", flush=True)
        finally:
            conn.close()
            served += 1
            watchdog.done()
    _remove_own_files(address)
    print(f"served {served} requests: exiting so a fresh worker takes over", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="fakeimg's warm sampling worker (started by runs)")
    p.add_argument("--home", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--dtype", required=True)
    p.add_argument("--idle-seconds", type=float, required=True)
    p.add_argument("--max-requests", type=int, required=True)
    args = p.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for `dg dev` is not ours
    address = worker_address(Path(args.home), args.device, args.dtype)
    serve(address, idle_seconds=args.idle_seconds, max_requests=args.max_requests)


# -- the run's side ---------------------------------------------------------------------------
def _connect(address: WorkerAddress) -> Any | None:
    """A connection to a live worker, or None (no socket, or a dead worker's socket)."""
    if not address.socket.exists() or not address.key.exists():
        return None
    try:  # waits here while the worker serves another run (one request at a time)
        return Client(str(address.socket), family="AF_UNIX", authkey=address.key.read_bytes())
    except (ConnectionRefusedError, FileNotFoundError, EOFError, ConnectionResetError,
            BrokenPipeError, AuthenticationError):  # gone, or died while we queued
        return None


def _spawn(address: WorkerAddress, home: Path, device: str, dtype: str,
           idle_seconds: float, max_requests: int) -> None:
    address.socket.unlink(missing_ok=True)
    address.pid.unlink(missing_ok=True)
    fd = os.open(address.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
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
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def sweep(folder: Path) -> int:
    """Remove what dead workers left (killed or crashed: no exit handler ran): a gone pid's
    socket, pid and key files, and keys of starts that never listened. Returns files removed."""
    removed = 0
    for pid_file in folder.glob("*.pid"):
        try:
            alive = pid_alive(int(pid_file.read_text()))
        except (OSError, ValueError):
            alive = False
        if not alive:
            for suffix in (".sock", ".pid", ".key"):
                path = pid_file.with_suffix(suffix)
                removed += path.exists()
                path.unlink(missing_ok=True)
    for key in folder.glob("*.key"):
        try:
            stale = (not key.with_suffix(".pid").exists()
                     and time.time() - key.stat().st_mtime > START_TIMEOUT_S)
        except OSError:
            continue
        if stale:
            key.unlink(missing_ok=True)
            removed += 1
    return removed


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


def worker_pid(address: WorkerAddress) -> int | None:
    try:
        return int(address.pid.read_text())
    except (OSError, ValueError):
        return None


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
        for path in (address.socket, address.pid, address.key):
            path.unlink(missing_ok=True)
    return True


def sample_in_worker(request: SampleRequest, home: Path, *, on_stage: Any = None,
                     idle_seconds: float = 600.0, max_requests: int = 200) -> SampleOutcome:
    """Send one partition's torch half to the warm worker; its errors are raised here."""
    on_stage = on_stage or (lambda _s: None)
    on_stage("load")
    conn, address = connect_or_start(home, request.device, request.dtype,
                                     idle_seconds=idle_seconds, max_requests=max_requests)
    pid = worker_pid(address)
    try:
        conn.send(request)
        if not conn.poll(request.max_seconds + HANG_GRACE_S):
            if pid:
                os.kill(pid, signal.SIGKILL)
            from fakeimg_assets.errors import ResourceLimitError

            raise ResourceLimitError(
                f"{request.model_id}: the sampling worker gave no answer within the partition's "
                f"time budget + {HANG_GRACE_S:g} s; it was killed (its log: {address.log})")
        answer = conn.recv()
    except (EOFError, ConnectionResetError, BrokenPipeError) as exc:
        raise WorkerError(
            f"{request.model_id}: the sampling worker (pid {pid}) exited while sampling this "
            f"model; its log: {address.log}. The next run starts a fresh worker.") from exc
    finally:
        conn.close()
    if answer[0] == "ok":
        return answer[1]
    _, stage, exc, trace = answer
    on_stage(stage)
    raise exc from WorkerError(f"raised in the sampling worker (pid {pid}):\n{trace}")


if __name__ == "__main__":
    main()
