"""One repo as found on disk: Hub metadata with defaults and the JSON shapes of the API."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from fakeimg_assets.testbed.local_hub.files import RepoFile
from fakeimg_assets.testbed.local_hub.protocol import hub_date

try:  # pyyaml ships with huggingface_hub; the fallback keeps the server stdlib-only.
    import yaml
except ImportError:  # pragma: no cover - exercised only without pyyaml
    yaml = None  # type: ignore[assignment]


@dataclass
class Repo:
    """One repo as found on disk right now."""

    repo_id: str
    directory: Path
    files: dict[str, RepoFile]
    meta: dict[str, Any]
    dir_mtime: float
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        commit = hashlib.sha1()
        for path in sorted(self.files):
            commit.update(f"{path}\0{self.files[path].digest.sha256}\n".encode())
        self.sha = commit.hexdigest()

    # ---- metadata with defaults

    @cached_property
    def card_data(self) -> dict[str, Any]:
        readme = self.files.get("README.md")
        if readme is None:
            return {}
        try:
            return _front_matter(readme.abspath.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return {}

    @cached_property
    def model_index(self) -> dict[str, Any] | None:
        entry = self.files.get("model_index.json")
        if entry is None:
            return None
        try:
            data = json.loads(entry.abspath.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _meta_or_card(self, key: str) -> Any:
        value = self.meta.get(key)
        return value if value is not None else self.card_data.get(key)

    @property
    def author(self) -> str:
        return str(self.meta.get("author") or self.repo_id.split("/")[0])

    @property
    def library_name(self) -> str | None:
        value = self._meta_or_card("library_name")
        if value is None and self.model_index is not None:
            return "diffusers"  # the Hub infers diffusers from model_index.json
        return str(value) if value is not None else None

    @property
    def pipeline_tag(self) -> str | None:
        value = self._meta_or_card("pipeline_tag")
        return str(value) if value is not None else None

    @property
    def license(self) -> str | None:
        value = self._meta_or_card("license")
        return str(value) if isinstance(value, str) else None

    @property
    def class_name(self) -> str | None:
        value = (self.model_index or {}).get("_class_name")
        return value if isinstance(value, str) else None

    @property
    def tags(self) -> list[str]:
        own = (
            string_list(self.meta["tags"])
            if "tags" in self.meta
            else string_list(self.card_data.get("tags"))
        )
        extra = [self.library_name or "", *own, self.pipeline_tag or ""]
        if any(p.endswith(".safetensors") for p in self.files):
            extra.append("safetensors")
        if self.license:
            extra.append(f"license:{self.license}")
        if self.class_name and self.library_name == "diffusers":
            extra.append(f"diffusers:{self.class_name}")
        return _dedupe(extra)

    @property
    def gated(self) -> str | bool:
        value = self.meta.get("gated", False)
        if value in ("auto", "manual"):
            return value
        return "auto" if value is True else False

    @property
    def private(self) -> bool:
        return bool(self.meta.get("private", False))

    def _int(self, *keys: str) -> int:
        for key in keys:
            value = self.meta.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return int(value)
        return 0

    @property
    def downloads(self) -> int:
        return self._int("downloads")

    @property
    def likes(self) -> int:
        return self._int("likes")

    @property
    def trending_score(self) -> int:
        return self._int("trending_score", "trendingScore")

    @property
    def fail_first_n_requests(self) -> int:
        return self._int("fail_first_n_requests")

    def _mtimes(self) -> list[float]:
        return [f.mtime for f in self.files.values()] or [self.dir_mtime]

    @cached_property
    def publish_at(self) -> datetime | None:
        """`.hub.json`'s `publish_at`: until then the repo does not exist for any client (the
        freshness benchmark publishes repos over time); from then on it was created then."""
        return _parse_when(self.meta.get("publish_at"))

    def published(self, now: datetime | None = None) -> bool:
        return self.publish_at is None or self.publish_at <= (now or datetime.now(UTC))

    @cached_property
    def created_at(self) -> datetime:
        when = _parse_when(self.meta.get("created_at") or self.meta.get("createdAt"))
        return when or self.publish_at or datetime.fromtimestamp(min(self._mtimes()), UTC)

    @cached_property
    def last_modified(self) -> datetime:
        when = _parse_when(self.meta.get("last_modified") or self.meta.get("lastModified"))
        return when or self.publish_at or datetime.fromtimestamp(max(self._mtimes()), UTC)

    @property
    def created_ts(self) -> int:
        return int(self.created_at.timestamp() * 1_000_000)

    @property
    def modified_ts(self) -> int:
        return int(self.last_modified.timestamp() * 1_000_000)

    @property
    def used_storage(self) -> int:
        return sum(f.size for f in self.files.values())

    @cached_property
    def directories(self) -> dict[str, str]:
        """Every folder path -> a deterministic tree id over what it holds."""
        members: dict[str, list[str]] = {}
        for path, entry in self.files.items():
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                members.setdefault("/".join(parts[:depth]), []).append(f"{path}\0{entry.oid}")
        return {
            d: hashlib.sha1("\n".join(sorted(m)).encode()).hexdigest() for d, m in members.items()
        }

    # ---- JSON shapes

    def summary(self, *, card: bool, config: bool) -> dict[str, Any]:
        """An item of ``GET /api/models`` with every field ``ModelInfo`` reads."""
        out: dict[str, Any] = {
            "id": self.repo_id,
            "modelId": self.repo_id,
            "author": self.author,
            "sha": self.sha,
            "createdAt": hub_date(self.created_at),
            "lastModified": hub_date(self.last_modified),
            "private": self.private,
            "gated": self.gated,
            "disabled": False,
            "downloads": self.downloads,
            "likes": self.likes,
            "trendingScore": self.trending_score,
            "tags": self.tags,
            "pipeline_tag": self.pipeline_tag,
            "library_name": self.library_name,
            "siblings": [f.sibling(False) for f in self.files.values()],
        }
        if card and self.card_data:
            out["cardData"] = self.card_data
        if config and self.config:
            out["config"] = self.config
        return out

    @property
    def config(self) -> dict[str, Any] | None:
        if self.class_name is None:
            return None
        return {"diffusers": {"_class_name": self.class_name}}

    def info(self, *, blobs: bool) -> dict[str, Any]:
        """``GET /api/models/{id}``: the summary plus card, config, storage and blob details."""
        out = self.summary(card=True, config=True)
        out["siblings"] = [f.sibling(blobs) for f in self.files.values()]
        out["usedStorage"] = self.used_storage
        out["spaces"] = []
        return out


# ---- reading metadata (`.hub.json` values, the card's YAML front matter)


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


def string_list(value: Any) -> list[str]:
    """A string or a list of values (a card's `tags`, a JSON `paths`) as a list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return []


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))
