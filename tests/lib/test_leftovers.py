"""`lib.leftovers`: a writer removes the temp files its dead predecessors left for its
own key, never a live writer's, never another key's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fakeimg_assets.lib.leftovers import (
    Writer,
    machine_tag,
    owner,
    parse_writer,
    remove_stale_temp_files,
    writer_id,
)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_only_dead_writers_temp_files_of_the_prefix_go(tmp_path: Path) -> None:
    dead, alive = _dead_pid(), os.getpid()
    names = [f".k.{dead}.0badc0de.tmp", f".k.{alive}.0badc0de.tmp", f".k2.{dead}.0badc0de.tmp",
             "k.parquet", f".k.{dead}.0badc0de.aside",
             # key `k.v2`'s: its writer's pid means nothing here when it runs on another
             # machine of a shared filesystem, so `.k.` must not take it
             f".k.v2.{dead}.0badc0de.tmp", f".k.v2.{dead}.tmp", f".k.v2.staging-{dead}-0badc0de"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / f".k.staging-{dead}-0badc0de").mkdir()  # a dead writer's staging folder
    removed = remove_stale_temp_files(tmp_path, ".k.")
    assert sorted(p.name for p in removed) == sorted([f".k.{dead}.0badc0de.tmp",
                                                      f".k.staging-{dead}-0badc0de"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for n in names if n != f".k.{dead}.0badc0de.tmp")
    # a prefix of many names: every dead writer's temp file under it goes
    assert {p.name for p in remove_stale_temp_files(tmp_path, ".", exact=False)} == {
        f".k2.{dead}.0badc0de.tmp", f".k.v2.{dead}.0badc0de.tmp", f".k.v2.{dead}.tmp",
        f".k.v2.staging-{dead}-0badc0de"}
    assert remove_stale_temp_files(tmp_path / "missing", ".k.") == []
    assert remove_stale_temp_files(tmp_path / "k.parquet", ".k.") == []  # not a folder


def test_a_temp_name_carries_its_machine_and_pid() -> None:
    assert owner(".k.gpu-7~123.0badc0de.tmp") == Writer("gpu-7", 123)
    assert owner(".k.v2.gpu-7~123.tmp") == Writer("gpu-7", 123)
    assert owner(".k.gpu-7~123.tmp.wal") == Writer("gpu-7", 123)
    assert owner(".staging-gpu-7-b~45-0badc0de") == Writer("gpu-7-b", 45)
    assert owner(".k.123.0badc0de.tmp") == Writer(None, 123)  # older code named no machine
    assert owner(".k.tmp") is None and owner("k.parquet") is None
    ours = parse_writer(writer_id())
    assert ours == Writer(machine_tag(), os.getpid()) and ours.here and not ours.dead
    assert not Writer("another-machine", _dead_pid()).dead  # its pid means nothing here
    assert Writer(machine_tag(), _dead_pid()).dead and Writer(None, _dead_pid()).dead


def test_another_machines_temp_files_are_never_taken_for_dead(tmp_path: Path) -> None:
    """On a folder several machines share (a cluster's home), another machine's writer looks
    dead here whatever it does: its temp files stay, unless the caller gives an idle limit
    (for files written all along) or holds the lock all their writers hold."""
    dead = _dead_pid()
    ours = tmp_path / f".k.{machine_tag()}~{dead}.0badc0de.tmp"
    older = tmp_path / f".k.{dead}.tmp"  # written before names carried a machine
    theirs = tmp_path / f".k.gpu-7~{dead}.0badc0de.tmp"
    their_idle = tmp_path / f".k.gpu-7~{dead}.0badf00d.tmp"
    their_staging = tmp_path / f".k.staging-gpu-7~{dead}-0badc0de"
    for path in (ours, older, theirs, their_idle):
        path.write_bytes(b"x")
    their_staging.mkdir()
    os.utime(their_idle, (os.path.getmtime(their_idle) - 601,) * 2)
    assert sorted(remove_stale_temp_files(tmp_path, ".k.")) == sorted([ours, older])
    assert {p.name for p in tmp_path.iterdir()} == {theirs.name, their_idle.name, their_staging.name}
    assert remove_stale_temp_files(tmp_path, ".", exact=False) == []
    assert remove_stale_temp_files(tmp_path, ".k.", other_idle_s=600) == [their_idle]
    assert sorted(remove_stale_temp_files(tmp_path, ".k.", locked=True)) == sorted(
        [theirs, their_staging])


def test_every_temp_name_the_product_writes_names_its_machine() -> None:
    """A temp name with a bare pid would be judged by that pid on every machine sharing the
    folder: the product builds them with `writer_id()`, never `os.getpid()`."""
    import ast

    from tests.helpers.repo import ROOT

    bare = []
    for path in sorted((ROOT / "fakeimg_assets").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.JoinedStr):
                continue
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            pids = [v for v in node.values if isinstance(v, ast.FormattedValue)
                    and ast.unparse(v.value) == "os.getpid()"]
            if pids and (text.startswith(".") or any(
                    m in text for m in (".tmp", "staging", ".old", ".aside", ".retire."))):
                bare.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bare, bare


def test_fakeimg_machine_names_this_machine_and_a_bad_one_is_refused(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Machines that share one host name (containers started with the same one) are told
    apart by FAKEIMG_MACHINE: each then takes the other's temp files for another machine's."""
    dead = _dead_pid()
    monkeypatch.setenv("FAKEIMG_MACHINE", "node-a")
    assert machine_tag() == "node-a" and writer_id() == f"node-a~{os.getpid()}"
    theirs = tmp_path / f".k.node-b~{dead}.0badc0de.tmp"
    ours = tmp_path / f".k.node-a~{dead}.0badc0de.tmp"
    for path in (theirs, ours):
        path.write_bytes(b"x")
    assert remove_stale_temp_files(tmp_path, ".k.") == [ours]
    for bad in ("node.a", "", "a" * 64, "node~a", "../a"):
        monkeypatch.setenv("FAKEIMG_MACHINE", bad)
        with pytest.raises(ValueError, match="FAKEIMG_MACHINE="):
            writer_id()
