"""The science run's pre-registered protocol: one committed file fixes everything a result
depends on before any run (`docs/science/protocol.toml`), and a lock file records the
content each version was registered with (`docs/science/protocol-lock.json`).

`load_protocol` refuses a protocol whose content changed without a new version: a change
made after seeing results must be a new version, reported beside the old one. Registering
a new version is an explicit act (`register_protocol`, `fakeimg science --register`), done
and committed before its first run.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
PROTOCOL_FILE = ROOT / "docs" / "science" / "protocol.toml"
LOCK_FILE = ROOT / "docs" / "science" / "protocol-lock.json"
SECTIONS = ("world", "sampling", "split", "detector", "design", "seeds", "outcome",
            "verdict", "baseline")  # fmt: skip
# sections a later version added: generators outside the Hub and the paper's findings 2, 3
OPTIONAL_SECTIONS = ("outside", "diversity", "cross_dataset")


class ProtocolError(ValueError):
    """A protocol that is malformed, unregistered, or changed after registration."""


@dataclass(frozen=True)
class Protocol:
    """A parsed protocol: its version, its content's digest and each section as a dict."""

    version: int
    digest: str
    sections: dict[str, dict[str, Any]]

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.sections[section]

    def get(self, section: str) -> dict[str, Any] | None:
        """An optional section (None in versions that predate it)."""
        return self.sections.get(section)


def content_digest(data: dict[str, Any]) -> str:
    """sha256 of the protocol's content, independent of comments, order and formatting."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def parse_protocol(text: str) -> tuple[Protocol, dict[str, Any]]:
    """The protocol in `text` (TOML), checked for its required sections and version."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"protocol is not valid TOML: {exc}") from exc
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ProtocolError(f"protocol version must be a positive integer, got {version!r}")
    missing = [s for s in SECTIONS if not isinstance(data.get(s), dict)]
    if missing:
        raise ProtocolError(f"protocol lacks section(s) {missing}")
    unknown = sorted(set(data) - {*SECTIONS, *OPTIONAL_SECTIONS, "version", "changes"})
    if unknown:
        raise ProtocolError(f"protocol has unknown key(s) {unknown}")
    bad = [s for s in OPTIONAL_SECTIONS if s in data and not isinstance(data[s], dict)]
    if bad:
        raise ProtocolError(f"protocol section(s) {bad} must be tables")
    sections = {s: dict(data[s]) for s in (*SECTIONS, *OPTIONAL_SECTIONS) if s in data}
    return Protocol(version, content_digest(data), sections), data


def load_protocol(path: Path = PROTOCOL_FILE, lock: Path = LOCK_FILE, *,
                  development: bool = False) -> Protocol:
    """The committed protocol, refused unless its version is registered with this content.

    `development`: a run on one of the protocol's development seeds, which may precede
    registration (that is what development seeds are for); a registered version must still
    match its content."""
    protocol, _ = parse_protocol(Path(path).read_text(encoding="utf-8"))
    registered = read_lock(lock)
    key = str(protocol.version)
    if key not in registered and development:
        return protocol
    if key not in registered:
        raise ProtocolError(
            f"protocol version {protocol.version} is not registered in {lock}: register it "
            "before its first run (`fakeimg science --register`) and commit both files"
        )
    if registered[key] != protocol.digest:
        raise ProtocolError(
            f"{path} changed after version {protocol.version} was registered (digest "
            f"{protocol.digest[:12]}, registered {registered[key][:12]}): a change after a "
            "run needs a new version, with both versions' results reported"
        )
    return protocol


def read_lock(lock: Path = LOCK_FILE) -> dict[str, str]:
    try:
        data = json.loads(Path(lock).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"{lock} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ProtocolError(f"{lock} must map version numbers to digests")
    return data


def register_protocol(path: Path = PROTOCOL_FILE, lock: Path = LOCK_FILE) -> Protocol:
    """Record the protocol's version and digest in the lock; a registered version with
    other content is refused (bump the version instead)."""
    protocol, _ = parse_protocol(Path(path).read_text(encoding="utf-8"))
    registered = read_lock(lock)
    key = str(protocol.version)
    if key in registered and registered[key] != protocol.digest:
        raise ProtocolError(
            f"protocol version {protocol.version} is registered with other content: "
            "bump the version"
        )
    registered[key] = protocol.digest
    Path(lock).write_text(json.dumps(registered, indent=2, sort_keys=True) + "\n")
    return protocol
