"""The file route of the local Hub: ``HEAD``/``GET .../resolve/{rev}/{path}``, with ranges.

Body faults (``truncate``, ``corrupt``) are applied here, while the file streams out.
"""

from __future__ import annotations

import mimetypes
import os
import re
import stat
from pathlib import Path

from fakeimg_assets.testbed.local_hub.common import _CHUNK, HubError, _repo_path
from fakeimg_assets.testbed.local_hub.faults import corrupt_chunk
from fakeimg_assets.testbed.local_hub.http_base import _BaseHandler


class _ResolveRoute(_BaseHandler):
    """Mixin of the handler: file downloads."""

    # ---- resolve

    def _resolve(self, org: str, name: str, revision: str, segments: list[str]) -> None:
        repo = self._repo(org, name, revision, files=True)
        path = _repo_path(segments)
        entry = repo.files.get(path)
        if entry is None:
            raise HubError(
                404,
                f"Entry not found: {path!r} in {repo.repo_id}",
                "EntryNotFound",
                {"X-Repo-Commit": repo.sha},
            )
        try:  # checked again now: the file may have become a symlink out of the repo
            real = entry.abspath.resolve(strict=True)
            st = real.stat()
        except (OSError, RuntimeError) as exc:
            raise HubError(404, f"Entry not found: {path!r}", "EntryNotFound") from exc
        if not real.is_relative_to(repo.directory) or not stat.S_ISREG(st.st_mode):
            raise HubError(404, f"Entry not found: {path!r}", "EntryNotFound")
        size = st.st_size
        start, end = 0, size - 1
        status = 200
        headers = {
            "X-Repo-Commit": repo.sha,
            "ETag": f'"{entry.etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": mimetypes.guess_type(path)[0] or "application/octet-stream",
        }
        if entry.is_lfs:
            headers["X-Linked-Etag"] = f'"{entry.etag}"'
            headers["X-Linked-Size"] = str(size)
        span = self._parse_range(self.headers.get("Range"), size)
        if span == "unsatisfiable":
            raise HubError(
                416,
                f"Range not satisfiable for size {size}",
                None,
                {"Content-Range": f"bytes */{size}"},
            )
        if isinstance(span, tuple):
            start, end = span
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = max(0, end - start + 1)
        fault = self.hub._faults.body_fault(
            self.command, self.path, is_lfs=entry.is_lfs, length=length
        )
        self._fault = fault
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD" or length == 0:
            return
        self._stream(real, start, length, fault)

    def _stream(self, path: Path, start: int, length: int, fault: str | None) -> None:
        """Send ``length`` bytes from ``start``; a fault cuts or flips them mid-way."""
        send = length // 2 if fault == "truncate" else length
        flip_at = length // 2 if fault == "corrupt" else -1
        sent = 0
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            fh.seek(start)
            while sent < send:
                chunk = fh.read(min(_CHUNK, send - sent))
                if not chunk:  # file shrank under us: the framing is broken, drop the socket
                    self.close_connection = True
                    return
                if flip_at >= 0:
                    chunk = corrupt_chunk(chunk, sent, flip_at)
                self.wfile.write(chunk)
                sent += len(chunk)
        if send < length:  # truncated: the client sees EOF before Content-Length is reached
            self.wfile.flush()
            self.close_connection = True

    @staticmethod
    def _parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
        """``bytes=a-b`` / ``a-`` / ``-n``; multi-ranges and junk are ignored like most servers."""
        if not header:
            return None
        match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
        if not match or (not match.group(1) and not match.group(2)):
            return None
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
            if last and int(last) < start:
                return None
        else:
            start, end = max(0, size - int(last)), size - 1
            if int(last) == 0:
                return "unsatisfiable"
        if start >= size:
            return "unsatisfiable"
        return start, end
