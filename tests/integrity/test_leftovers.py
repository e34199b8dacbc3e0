"""`integrity.leftovers`: a writer removes the temp files its dead predecessors left for its
own key, never a live writer's, never another key's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from fakeimg_assets.integrity.leftovers import remove_stale_temp_files


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


def test_an_idle_limit_keeps_a_dead_looking_writer_that_still_writes(tmp_path: Path) -> None:
    """On a shared folder, another machine's live writer looks dead here (its pid means
    nothing on this machine) but keeps writing: with `idle_s`, only a temp file untouched
    that long goes."""
    dead = _dead_pid()
    fresh, idle = tmp_path / f".a.{dead}.0badc0de.tmp", tmp_path / f".b.{dead}.0badc0de.tmp"
    for path in (fresh, idle):
        path.write_bytes(b"x")
    os.utime(idle, (os.path.getmtime(idle) - 601,) * 2)
    assert remove_stale_temp_files(tmp_path, ".", exact=False, idle_s=600) == [idle]
    assert fresh.exists()
    assert remove_stale_temp_files(tmp_path, ".", exact=False) == [fresh]  # no limit: it goes
