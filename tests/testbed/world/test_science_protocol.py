"""The pre-registered protocol: parsed strictly, refused when it changed without a new
version, and the committed one registered with exactly its content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakeimg_assets.testbed.world.protocol import (
    LOCK_FILE,
    PROTOCOL_FILE,
    ProtocolError,
    load_protocol,
    parse_protocol,
    register_protocol,
)


def test_the_committed_protocol_is_registered_with_its_content() -> None:
    """Editing docs/science/protocol.toml without a new version fails here (and in CI)."""
    protocol = load_protocol()
    assert json.loads(LOCK_FILE.read_text())[str(protocol.version)] == protocol.digest
    assert len(protocol["seeds"]["replication"]) >= 3
    assert not set(protocol["seeds"]["replication"]) & set(protocol["seeds"]["development"])
    assert protocol["verdict"]["rule"] == "ci_low > 0"


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    path, lock = tmp_path / "protocol.toml", tmp_path / "lock.json"
    path.write_text(PROTOCOL_FILE.read_text())
    return path, lock


def test_an_unregistered_version_runs_only_on_development_seeds(tmp_path: Path) -> None:
    path, lock = _copy(tmp_path)
    with pytest.raises(ProtocolError, match="not registered"):
        load_protocol(path, lock)
    assert load_protocol(path, lock, development=True).version >= 2
    registered = register_protocol(path, lock)
    assert load_protocol(path, lock).digest == registered.digest


def test_a_change_after_registration_needs_a_new_version(tmp_path: Path) -> None:
    path, lock = _copy(tmp_path)
    register_protocol(path, lock)
    path.write_text(path.read_text().replace("draws = 5", "draws = 6"))
    for dev in (False, True):  # a registered version is held to its content either way
        with pytest.raises(ProtocolError, match="changed after version"):
            load_protocol(path, lock, development=dev)
    with pytest.raises(ProtocolError, match="bump the version"):
        register_protocol(path, lock)
    text = path.read_text()
    version = parse_protocol(text)[0].version
    path.write_text(text.replace(f"version = {version}", f"version = {version + 1}", 1))
    assert register_protocol(path, lock).version == version + 1
    assert set(json.loads(lock.read_text())) == {str(version), str(version + 1)}


def test_comments_and_order_are_not_content(tmp_path: Path) -> None:
    path, lock = _copy(tmp_path)
    register_protocol(path, lock)
    path.write_text("# a comment\n" + path.read_text())
    assert load_protocol(path, lock).version >= 2


@pytest.mark.parametrize(("text", "words"), [
    ("version = 0\n", "positive integer"),
    ("version = 2\n[world]\n", "lacks section"),
    ("version = [2\n", "not valid TOML"),
])
def test_malformed_protocols_are_refused_by_name(text: str, words: str) -> None:
    with pytest.raises(ProtocolError, match=words):
        parse_protocol(text)
