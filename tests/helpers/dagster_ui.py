"""The Dagster UI the way `make dev` starts it (`dg dev`: webserver + daemon) on a given
home, for browser tests: started in its own process group, waited for, and stopped with
everything it spawned."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.repo import ROOT

DG = Path(sys.executable).with_name("dg")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def dagster_ui(home: Path, hub_url: str, log: Path, *, timeout_s: float = 180.0
               ) -> Iterator[str]:  # fmt: skip
    """`dg dev` on `home` (FAKEIMG_HOME, DAGSTER_HOME=home/dagster, HF_ENDPOINT=hub_url);
    yields the UI's base URL once `/server_info` answers; its output goes to `log`."""
    from fakeimg_assets.instance_config import write_instance_config

    write_instance_config(home / "dagster")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "HF_TOKEN")}
    env.update(FAKEIMG_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), HF_ENDPOINT=hub_url,
               HF_TOKEN="", VIRTUAL_ENV=str(Path(sys.executable).parents[1]),
               PATH=f"{DG.parent}{os.pathsep}{env.get('PATH', '')}")
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(DG), "dev", "--port", str(port), "--host", "127.0.0.1"], cwd=ROOT, env=env,
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"dg dev exited with {proc.returncode}; see {log}")
                try:
                    urllib.request.urlopen(f"{url}/server_info", timeout=2).read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the Dagster UI did not answer in {timeout_s:.0f}"
                                           f" s; see {log}") from None
                    time.sleep(0.5)
            yield url
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT to the group (dg dev stops webserver and daemon), then SIGKILL if needed."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
