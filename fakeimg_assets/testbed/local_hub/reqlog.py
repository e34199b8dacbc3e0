"""The server's request log: what was asked for and what was answered.

It is the evidence the chaos test needs (no ``.bin``/``.ckpt``/``.pt``/``.py`` file was ever
requested) and a debugging aid for users rehearsing an outage (``--request-log FILE``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, NamedTuple
from urllib.parse import unquote, urlsplit

MAX_IN_MEMORY = 100_000  # a long-running server keeps only the newest records in memory


class RequestRecord(NamedTuple):
    """One answered request: ``path`` is the URL-decoded path without the query string."""

    method: str
    path: str
    status: int


class RequestLog:
    """Thread-safe in-memory records, mirrored as JSON lines to ``path`` when given."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else None
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=MAX_IN_MEMORY)
        self._file: IO[str] | None = None
        if self.path is not None and self.path.is_dir():
            raise ValueError(f"request log {self.path} is a directory, expected a file path")

    def open(self) -> None:
        """Start appending to the file (the server calls this when it binds)."""
        with self._lock:
            if self.path is None or self._file is not None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Line-buffered append: each record reaches the file as soon as it is written.
            self._file = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def record(self, method: str, target: str, status: int, fault: str | None = None) -> None:
        """Store one request; ``target`` is the raw request target (path and query)."""
        split = urlsplit(target)
        entry = RequestRecord(method, unquote(split.path), status)
        with self._lock:
            self._records.append(entry)
            if self._file is not None:
                line = {
                    "time": round(time.time(), 3),
                    "method": method,
                    "path": entry.path,
                    "query": split.query,
                    "status": status,
                    "fault": fault,
                }
                self._file.write(json.dumps(line) + "\n")

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_request_log(path: Path | str) -> list[dict[str, object]]:
    """The JSON lines of a ``--request-log`` file, for tests and post-mortems."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
