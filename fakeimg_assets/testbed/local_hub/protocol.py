"""The Hub's HTTP API as the local server speaks it: errors, dates, flags, paths, headers.

`HubError` is an answer the way the Hub gives one (status, `X-Error-Code`, JSON message);
the rest are the small conventions every route shares: the date format
`huggingface_hub` parses, which query values mean true, which revisions mean the main
branch, how a path inside a repo is read from URL segments, and header-safe text.
Stdlib only and free of server state: the bottom of the local Hub.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

TRUE_VALUES = frozenset({"1", "true", "True", "yes"})  # query flags such as `?blobs=true`
MAIN_REFS = frozenset({"main", "refs/heads/main"})  # the only branch; else the commit sha


class HubError(Exception):
    """An error answered the way the Hub does: status, ``X-Error-Code`` and a JSON message."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


def hub_date(when: datetime) -> str:
    """Hub date format (milliseconds, ``Z``), the one ``huggingface_hub.parse_datetime`` reads."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def header_text(text: str) -> str:
    """Header-safe text (HTTP headers are latin-1)."""
    return text.encode("ascii", "backslashreplace").decode("ascii").replace("\n", " ")


def repo_path(segments: list[str]) -> str:
    """A path inside a repo from URL segments; refuses anything that could escape it."""
    path = "/".join(segments)
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or "\\" in path
        or "\0" in path
        or re.match(r"^[A-Za-z]:", path)
    ):
        raise HubError(400, f"Invalid path in repo: {path!r}", "BadRequest")
    return path
