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
- The socket lives in a private folder (0700, checked without following links) and
  connections are authenticated with a random key in a 0600 file (`multiprocessing.
  connection`'s HMAC handshake, both ways), so only this user's processes can submit work
  or read results; the worker refuses to start on a key file others could read.
- Requests and answers are data (`worker_protocol.py`: JSON and raw PNG frames), never
  pickles: even a process holding the key can only ask for images, not run code here.

This module is the worker process; `worker_client.py` is the run's side, `worker_files.py`
the address and files both use.
"""


from __future__ import annotations

import argparse
import os
import signal
import threading
import time
import traceback
from multiprocessing.connection import Listener
from pathlib import Path
from typing import Any

from fakeimg_assets.sampling.execute import SampleRequest, execute
from fakeimg_assets.sampling.worker_files import (
    HANG_GRACE_S,
    START_TIMEOUT_S,
    WorkerAddress,
    read_key,
    remove_own_files,
    remove_socket,
    worker_address,
    write_pid,
)
from fakeimg_assets.sampling.worker_protocol import (
    error_frames,
    outcome_frames,
    recv_request,
    send_frames,
)
from fakeimg_assets.sampling.worker_schema import WorkerProtocolError


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
        remove_own_files(self.address)
        print(message, flush=True)
        os._exit(code)



def _answer(request: SampleRequest, worker: dict[str, Any]) -> list[bytes]:
    """The answer's frames: the outcome, or the error with its stage; never raises."""
    stage = ["load"]
    try:
        outcome = execute(request, lambda name: stage.__setitem__(0, name),  # rate/ETA: its log
                          on_progress=lambda line: print(f"{request.model_id}: {line}", flush=True))
        outcome.worker = worker
        return outcome_frames(outcome)
    except Exception as exc:  # noqa: BLE001 - reported to the run, which raises it
        return error_frames(exc, stage[0], traceback.format_exc(), worker)


def serve(address: WorkerAddress, *, idle_seconds: float, max_requests: int) -> None:
    """Listen, warm the imports, then answer requests one at a time."""
    key = read_key(address)  # refused unless a 0600 file of this user, not a link
    write_pid(address)  # before listening: a client then knows whom to kill
    remove_socket(address)
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
        worker = {"mode": "warm_worker", "pid": os.getpid(), "request": served + 1}
        try:
            try:
                request = recv_request(conn)  # data only: nothing from the wire is unpickled
            except WorkerProtocolError as exc:
                print(f"request {served + 1} refused: {exc}", flush=True)
                send_frames(conn, error_frames(exc, "request", "", worker))
                continue
            print(f"request {served + 1}: {request.model_id} started", flush=True)
            watchdog.start(request.max_seconds + HANG_GRACE_S)
            t0 = time.perf_counter()
            frames = _answer(request, worker)
            send_frames(conn, frames)
            print(f"request {served + 1}: {request.model_id} answered ({len(frames) - 1} images) "
                  f"in {time.perf_counter() - t0:.2f} s", flush=True)
        except (EOFError, OSError) as exc:  # the run went away (cancelled, killed)
            print(f"lost a run's connection: {type(exc).__name__}: {exc}", flush=True)
        finally:
            conn.close()
            served += 1
            watchdog.done()
    remove_own_files(address)
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


if __name__ == "__main__":
    main()
