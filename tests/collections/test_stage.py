"""Staging as a whole: bad arguments fail naming them before anything is read or written, a
failed or interrupted re-add never loses the collection already there, and the manifest's
revision depends on the images and nothing else."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from fakeimg_assets.collections import stage as stage_module
from fakeimg_assets.collections.manifest import collection_dir, read_manifest
from fakeimg_assets.collections.stage import stage_collection
from fakeimg_assets.collections.swap import CollectionSwap
from tests.collections.sources import tiny, truncated_png, write_folder_source


def _quiet(_line: str) -> None:
    pass


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("role", ["training", "", "TRAIN", None])
def test_a_bad_role_fails_naming_the_valid_ones(tmp_path: Path, role) -> None:
    src = write_folder_source(tmp_path / "src")
    with pytest.raises(ValueError, match=r"invalid collection role .*train, eval, both"):
        stage_collection(tmp_path / "home", src, role=role, log=_quiet)
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize("name", ["../evil", "a/b", "a--b", "x..y", ".hidden", "-x", "",
                                  "n" * 97, "naïve", "a b"])
def test_a_bad_name_fails_naming_it(tmp_path: Path, name: str) -> None:
    src = write_folder_source(tmp_path / "src")
    with pytest.raises(ValueError, match="invalid collection name"):
        stage_collection(tmp_path / "home", src, name=name, log=_quiet)
    assert not (tmp_path / "home").exists()


def test_a_missing_folder_fails_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    with pytest.raises(FileNotFoundError, match=f"{missing}.* does not exist; expected a folder"):
        stage_collection(tmp_path / "home", missing, log=_quiet)


@pytest.mark.parametrize("source, match", [
    ("notes.txt", r"is a file but not a \.parquet file; expected a folder"),
    ("hf://models/org/name", r"only Hub dataset repos \(hf://datasets/ORG/NAME\)"),
    ("", "invalid collection source"),
    ("bad\x00path", "invalid collection source"),
    ("nothing-*.parquet", r"matches no \.parquet files"),
])
def test_a_source_of_no_accepted_form_fails_naming_it(tmp_path: Path, source: str,
                                                       match: str, monkeypatch) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    monkeypatch.chdir(tmp_path)
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        stage_collection(tmp_path / "home", source, log=_quiet)


def test_a_source_with_no_usable_image_fails_and_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "g").mkdir(parents=True)
    (src / "g" / "bad.png").write_bytes(truncated_png(1))
    (src / "real").mkdir()
    (src / "real" / "r.png").write_bytes(tiny(2))  # reals alone are no collection
    with pytest.raises(ValueError, match=r"gave no generator with a usable image: nothing "
                                         r"written \(2 problems; g/bad.png: not a readable"):
        stage_collection(tmp_path / "home", src, log=_quiet)
    assert [p.name for p in (tmp_path / "home" / "collections").iterdir()] == [".src.lock"]


def test_a_failed_re_add_keeps_the_old_collection_intact(tmp_path: Path) -> None:
    home, src = tmp_path / "home", write_folder_source(tmp_path / "src")
    first = stage_collection(home, src, name="mine", log=_quiet)
    before = _snapshot(collection_dir(home, "mine"))
    bad = tmp_path / "bad"
    (bad / "g").mkdir(parents=True)
    (bad / "g" / "t.png").write_bytes(truncated_png(3))
    with pytest.raises(ValueError, match="no generator with a usable image"):
        stage_collection(home, bad, name="mine", log=_quiet)
    assert _snapshot(collection_dir(home, "mine")) == before
    assert read_manifest(home, "mine") == first
    assert sorted(p.name for p in (home / "collections").iterdir()) == [".mine.lock", "mine"]


def test_an_add_interrupted_mid_way_keeps_the_old_collection(tmp_path: Path,
                                                             monkeypatch) -> None:
    """An exception (a kill's KeyboardInterrupt) while images are staged: the old collection
    is untouched and no staging folder is left."""
    home, src = tmp_path / "home", write_folder_source(tmp_path / "src")
    stage_collection(home, src, name="mine", log=_quiet)
    before = _snapshot(collection_dir(home, "mine"))
    calls = []
    real_ingest = stage_module._ingest

    def dying(item, folder, seq):
        calls.append(seq)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_ingest(item, folder, seq)

    monkeypatch.setattr(stage_module, "_ingest", dying)
    for i in range(10):
        (src / "stylegan2" / f"new{i}.png").write_bytes(tiny(200 + i))
    with pytest.raises(KeyboardInterrupt):
        stage_collection(home, src, name="mine", workers=1, log=_quiet)
    assert _snapshot(collection_dir(home, "mine")) == before
    assert sorted(p.name for p in (home / "collections").iterdir()) == [".mine.lock", "mine"]


def test_a_kill_between_the_two_renames_is_repaired_by_the_next_add(tmp_path: Path) -> None:
    """The old collection moved aside, the new one not in yet (a kill at the worst moment):
    the next add, even one that fails, puts the old one back first."""
    home, src = tmp_path / "home", write_folder_source(tmp_path / "src")
    first = stage_collection(home, src, name="mine", log=_quiet)
    root = home / "collections"
    before = _snapshot(root / "mine")
    os.rename(root / "mine", root / ".mine.old-0123abcd")
    (root / ".mine.staging-999999-deadbeef").mkdir()  # a dead add's half-written folder
    (root / ".mine.staging-999999-deadbeef" / "junk").write_text("x")
    bad = tmp_path / "bad"
    (bad / "g").mkdir(parents=True)
    with pytest.raises(ValueError, match="no generator with a usable image"):
        stage_collection(home, bad, name="mine", log=_quiet)
    assert _snapshot(root / "mine") == before and read_manifest(home, "mine") == first
    assert sorted(p.name for p in root.iterdir()) == [".mine.lock", "mine"]


def test_a_re_add_replaces_the_collection_once_complete(tmp_path: Path) -> None:
    home, src = tmp_path / "home", write_folder_source(tmp_path / "src")
    first = stage_collection(home, src, name="mine", log=_quiet)
    shutil.rmtree(src / "midjourney")
    (src / "stylegan2" / "c.png").write_bytes(tiny(300))
    second = stage_collection(home, src, name="mine", log=_quiet)
    assert second.revision != first.revision
    assert [g.generator for g in second.generators] == ["ADM-guided", "stylegan2"]
    folder = collection_dir(home, "mine")
    assert not (folder / "images" / "midjourney").exists()  # nothing of the old one is left
    assert read_manifest(home, "mine") == second
    assert sorted(p.name for p in (home / "collections").iterdir()) == [".mine.lock", "mine"]


def test_the_revision_depends_on_the_images_only(tmp_path: Path) -> None:
    src = write_folder_source(tmp_path / "src")
    a = stage_collection(tmp_path / "h1", src, log=_quiet)
    b = stage_collection(tmp_path / "h2", src, name="other-name", role="both", log=_quiet)
    assert a.revision == b.revision and len(a.revision) == 64
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        for key in ("added_at", "name", "role"):
            d.pop(key)
    assert da == db  # the whole manifest is deterministic, not only its revision
    for p in (src / "stylegan2").iterdir():  # renamed files, same bytes: same content
        p.rename(p.with_name("renamed-" + p.name))
    assert stage_collection(tmp_path / "h3", src, log=_quiet).revision == a.revision
    (src / "real" / "r3.png").write_bytes(tiny(400))  # one more real: another revision
    c = stage_collection(tmp_path / "h4", src, log=_quiet)
    assert c.revision != a.revision
    (src / "real" / "r3.png").unlink()
    (src / "midjourney" / "m.png").write_bytes(tiny(401))  # one image changed
    assert stage_collection(tmp_path / "h5", src, log=_quiet).revision not in (a.revision,
                                                                                c.revision)


def test_staging_logs_a_summary_and_the_problems(tmp_path: Path) -> None:
    src = write_folder_source(tmp_path / "src")
    (src / "stylegan2" / "t.png").write_bytes(truncated_png(5))
    lines: list[str] = []
    stage_collection(tmp_path / "home", src, log=lines.append)
    assert lines[0].startswith("collection 'src' (train): 5 images of 3 generators, 2 real "
                               "images, 1 problems")
    assert lines[1].startswith("  stylegan2: stylegan2/t.png: not a readable image")


def test_adds_of_one_name_wait_for_each_other(tmp_path: Path) -> None:
    """The lock is held for the whole add: a second swap of the same name cannot start."""
    import fcntl

    home = tmp_path / "home"
    with CollectionSwap(home, "mine") as swap:
        fd = os.open(home / "collections" / ".mine.lock", os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        assert swap.staging.is_dir()
    assert not swap.staging.exists()
