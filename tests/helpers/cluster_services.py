"""Real Postgres and Redis servers on loopback for the distributed test, from the system's
packages (Debian `postgresql`, `redis-server`; `make distributed-deps` installs them).

Each server is private to one test: its own data folder, a free port on 127.0.0.1, stopped and
removed afterwards. Postgres refuses to run as root, so as root it runs as the `postgres` user
the Debian package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin(name: str) -> str | None:
    """A Postgres server program (`initdb`, `pg_ctl`, `postgres`): Debian keeps them out of
    PATH, under /usr/lib/postgresql/VERSION/bin (the newest wins)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    return found[-1] if found else shutil.which(name)


def missing_programs() -> list[str]:
    """The server programs this machine lacks (empty: the distributed test can run)."""
    missing = [n for n in ("initdb", "pg_ctl", "postgres") if postgres_bin(n) is None]
    missing += [n for n in ("redis-server",) if shutil.which(n) is None]
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing.append("runuser")
    return missing


def cluster_test_marks(modules: tuple[str, ...]) -> list:
    """`pytestmark` of a test that needs the servers and the Python `modules` of the
    `cluster` extra: slow, `distributed`, and skipped with what is missing named."""
    import importlib.util

    import pytest

    missing = missing_programs() + [m for m in modules if importlib.util.find_spec(m) is None]
    return [pytest.mark.slow, pytest.mark.distributed,
            pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)}: `make "
                               "distributed-deps` (root, apt) and `pip install -e '.[cluster]'`")]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _wait_port(port: int, proc: subprocess.Popen | None, what: str, log: Path,
               timeout_s: float = 60) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port}: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A fresh Postgres cluster with a `fakeimg` database: yields its URL."""
    root = Path(tempfile.mkdtemp(prefix="fakeimg-pg-"))
    data, log = root / "data", root / "server.log"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
    port = free_port()
    subprocess.run(_as_postgres([postgres_bin("initdb"), "-D", str(data), "-U", "fakeimg",
                                 "--auth=trust", "-E", "UTF8"]),
                   check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    subprocess.run(_as_postgres([postgres_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                                 "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1",
                                 "start"]),
                   check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        _wait_port(port, None, "postgres", log)
        subprocess.run(_as_postgres(["createdb", "-h", "127.0.0.1", "-p", str(port), "-U",
                                     "fakeimg", "fakeimg"]) if shutil.which("createdb") else
                       _as_postgres([postgres_bin("createdb"), "-h", "127.0.0.1", "-p",
                                     str(port), "-U", "fakeimg", "fakeimg"]),
                       check=True, stdin=subprocess.DEVNULL)
        yield f"postgresql://fakeimg@127.0.0.1:{port}/fakeimg"
    finally:
        subprocess.run(_as_postgres([postgres_bin("pg_ctl"), "-D", str(data), "-m", "immediate",
                                     "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A Redis server with no persistence: yields its URL (database 0)."""
    root = Path(tempfile.mkdtemp(prefix="fakeimg-redis-"))
    port, log = free_port(), root / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(root)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, "redis-server", log)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)
