"""Shared pieces of the local Hub server: constants, the Hub-style error, parsing helpers.

Everything here is stdlib-only and free of server state, so every other module of the
server can import it without cycles.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

try:  # pyyaml ships with huggingface_hub; the fallback keeps the server stdlib-only.
    import yaml
except ImportError:  # pragma: no cover - exercised only without pyyaml
    yaml = None  # type: ignore[assignment]

log = logging.getLogger("fakeimg_assets.testbed.local_hub.server")

HUB_META_FILE = ".hub.json"
# Top-level entries of a repo dir that are not repo content (git internals, local_dir caches).
_HIDDEN_TOP_LEVEL = frozenset({HUB_META_FILE, ".git", ".cache"})
# Files the Hub stores with git-lfs (diffusers/transformers repos' .gitattributes) or by size.
_LFS_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".ckpt",
    ".pt",
    ".pth",
    ".msgpack",
    ".h5",
    ".onnx",
    ".model",
    ".gguf",
    ".png",  # the Hub's default .gitattributes stores images with LFS (dataset repos)
    ".jpg",
    ".jpeg",
    ".webp",
)
_LFS_MIN_SIZE = 10 * 1024 * 1024
_CHUNK = 1024 * 1024
# Hub repo-name rules, simplified: no leading dot/dash, no "..", so a name never walks the tree.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_MAIN_REFS = frozenset({"main", "refs/heads/main"})
_SORT_FIELDS = {
    "createdAt": "created_ts",
    "created_at": "created_ts",
    "lastModified": "modified_ts",
    "last_modified": "modified_ts",
    "downloads": "downloads",
    "likes": "likes",
    "trendingScore": "trending_score",
    "trending_score": "trending_score",
}
_TRUE = frozenset({"1", "true", "True", "yes"})


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


def _iso(when: datetime) -> str:
    """Hub date format (milliseconds, ``Z``), the one ``huggingface_hub.parse_datetime`` reads."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _parse_when(value: Any) -> datetime | None:
    """Accept ISO strings (``Z`` or offsets), dates, datetimes and epoch numbers."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _front_matter(text: str) -> dict[str, Any]:
    """YAML metadata at the top of README.md (the model card's ``cardData``)."""
    match = re.match(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*$", text, re.S | re.M)
    if not match:
        return {}
    body = match.group(1)
    if yaml is None:
        return _mini_yaml(body)
    try:
        data = yaml.load(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _mini_yaml(body: str) -> dict[str, Any]:
    """Flat ``key: value`` / ``key: [a, b]`` / ``- item`` YAML, for when pyyaml is missing."""
    out: dict[str, Any] = {}
    key: str | None = None
    for line in body.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.lstrip().startswith("- ") and key is not None:
            out.setdefault(key, [])
            if isinstance(out[key], list):
                out[key].append(line.lstrip()[2:].strip().strip("'\""))
            continue
        if ":" in line and not line[0].isspace():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if value.startswith("[") and value.endswith("]"):
                out[key] = [v.strip().strip("'\"") for v in value[1:-1].split(",") if v.strip()]
            elif value:
                out[key] = value.strip("'\"")
            else:
                out[key] = []
    return out


def _as_tags(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return []


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def _valid_name(part: str) -> bool:
    """An org or repo name that is safe to join onto ROOT."""
    return bool(_NAME_RE.fullmatch(part)) and ".." not in part


# --------------------------------------------------------------------------- HTTP


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _unb64(value: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except ValueError as exc:
        raise HubError(400, f"invalid cursor {value!r}", "BadRequest") from exc


def _ascii(text: str) -> str:
    """Header-safe text (HTTP headers are latin-1)."""
    return text.encode("ascii", "backslashreplace").decode("ascii").replace("\n", " ")


def _repo_path(segments: list[str]) -> str:
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
