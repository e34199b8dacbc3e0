"""The manifest on disk: read back as written, every value a reader turns into a path or
trusts is checked, a damaged one raises naming the file; ids made safe from any name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakeimg_assets.collections.ids import safe_id
from fakeimg_assets.collections.manifest import (
    ROLES,
    CollectionNotFoundError,
    ManifestError,
    collection_dir,
    list_manifests,
    read_manifest,
    revision_of,
)
from fakeimg_assets.collections.stage import stage_collection
from fakeimg_assets.lib.paths import name_problem
from tests.collections.sources import write_folder_source


def _quiet(_line: str) -> None:
    pass


@pytest.fixture()
def staged(tmp_path: Path):
    home = tmp_path / "home"
    c = stage_collection(home, write_folder_source(tmp_path / "src"), name="mine", log=_quiet)
    return home, c, collection_dir(home, "mine") / "manifest.json"


def test_roles_are_the_design_s() -> None:
    assert ROLES == ("train", "eval", "both")


def test_a_missing_collection_names_it_and_the_known_ones(staged) -> None:
    home, _, _ = staged
    with pytest.raises(CollectionNotFoundError, match=r"no collection 'nope' under .*; known "
                                                      r"collections: mine"):
        read_manifest(home, "nope")
    with pytest.raises(CollectionNotFoundError, match="known collections: none"):
        read_manifest(home / "elsewhere", "nope")


@pytest.mark.parametrize("name", ["../mine", "mine/../../x", "..", "a--b", "", ".mine"])
def test_a_hostile_collection_name_never_becomes_a_path(staged, name: str) -> None:
    home, _, _ = staged
    with pytest.raises(ValueError, match="invalid collection name"):
        collection_dir(home, name)
    with pytest.raises(ValueError, match="invalid collection name"):
        read_manifest(home, name)


def test_list_manifests_reads_every_collection_and_skips_other_entries(staged,
                                                                       tmp_path: Path) -> None:
    home, c, _ = staged
    stage_collection(home, tmp_path / "src", name="second", log=_quiet)
    root = home / "collections"
    (root / ".mine.staging-1-abc").mkdir()  # a staging folder, a stray file, a bare folder
    (root / "README.txt").write_text("x")
    (root / "no-manifest").mkdir()
    assert [m.name for m in list_manifests(home)] == ["mine", "second"]
    assert list_manifests(tmp_path / "nothing-here") == []
    assert list_manifests(home)[0] == c


def _tamper(path: Path, change) -> None:
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw))


def _set(*keys, value):
    def change(raw):
        target = raw
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value
    return change


@pytest.mark.parametrize("change, match", [
    (_set("generators", 0, "images", 0, "file", value="../../../../etc/passwd"),
     r"generator 'ADM-guided'\.images\[0\]\.file '\.\./\.\./\.\./\.\./etc/passwd' is not "
     r"'images/ADM-guided/[0-9a-f]{16}\.webp' \(the path its sha256 and format give\)"),
    (_set("reals", 0, "file", value="/etc/passwd"), r"reals\[0\]\.file '/etc/passwd' is not"),
    (_set("generators", 0, "generator", value="../x"), r"generator '\.\./x': character '/'"),
    (_set("generators", 0, "images", 0, "sha256", value="x" * 64), "is not 64 hex digits"),
    (_set("generators", 0, "images", 0, "format", value="EPS"), "format 'EPS' is not one of"),
    (_set("generators", 0, "n_images", value=99), "n_images is 99 but it lists 2 images"),
    (_set("generators", 0, "digest", value="0" * 64), "digest does not match"),
    (_set("revision", value="0" * 64), "revision '0000.*' does not match the listed images"),
    (_set("name", value="other"), "it names collection 'other', not 'mine'"),
    (_set("role", value="sometimes"), "invalid collection role 'sometimes'"),
    (_set("source_kind", value="ftp"), "source_kind 'ftp' is not one of"),
    (_set("source_revision", value="../../x"), "is not a 40-hex commit"),
    (_set("added_at", value="yesterday"), "added_at 'yesterday' is not an ISO time"),
    (_set("generators", 0, "family_group", value="wizardry"), "family_group 'wizardry'"),
    (_set("generators", 0, "release_date", value="2021-13-01"), "is not a valid date"),
    (_set("generators", 0, "images", 0, "width", value="16"), r"width is '16', not int"),
    (_set("generators", 0, "images", 0, "width", value=True), r"width is True, not int"),
    (_set("generators", 0, "images", 0, "height", value=0), "has size 16x0"),
    (_set("generators", value=[]), "generators are missing"),
    (_set("problems", value={}), "problems is {}, not list"),
    (lambda raw: raw.pop("reals"), "manifest has no 'reals'"),
    (lambda raw: raw["generators"].append(raw["generators"][0]), "listed twice"),
])
def test_a_damaged_manifest_raises_naming_the_file(staged, change, match: str) -> None:
    home, _, path = staged
    _tamper(path, change)
    with pytest.raises(ManifestError, match=match) as err:
        read_manifest(home, "mine")
    assert str(path) in str(err.value)
    with pytest.raises(ManifestError, match=match):
        list_manifests(home)


@pytest.mark.parametrize("text", ["", "{", "[]", "null", "\xff"])
def test_a_manifest_that_is_not_json_of_an_object_raises_naming_the_file(staged,
                                                                          text: str) -> None:
    home, _, path = staged
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ManifestError, match=f"damaged collection manifest {path}"):
        read_manifest(home, "mine")


def test_the_revision_is_of_sorted_content() -> None:
    a = revision_of({"g1": "a" * 64, "g2": "b" * 64}, ["c" * 64, "d" * 64])
    assert a == revision_of({"g2": "b" * 64, "g1": "a" * 64}, ["d" * 64, "c" * 64])
    assert a != revision_of({"g1": "b" * 64, "g2": "a" * 64}, ["c" * 64, "d" * 64])
    assert a != revision_of({"g1": "a" * 64, "g2": "b" * 64}, ["c" * 64])
    assert a != revision_of({"g1": "a" * 64, "g3": "b" * 64}, ["c" * 64, "d" * 64])


@pytest.mark.parametrize("name, expected", [
    ("stylegan2", "stylegan2"),
    ("Stable Diffusion 1.5", "Stable-Diffusion-1.5"),
    ("a--b..c", "a-b.c"),
    ("../../etc/passwd", "etc-passwd"),
    ("-.-lead-trail.-.", "lead-trail"),
    ("DALL·E 3", "DALL-E-3"),
    ("org/model", "org-model"),
    ("x" * 120, "x" * 96),
    ("a" * 95 + "-b", "a" * 95),
])
def test_safe_ids(name: str, expected: str) -> None:
    assert safe_id(name) == expected
    assert name_problem(safe_id(name), "id") is None


@pytest.mark.parametrize("name", ["", "...", "---", "画像生成", "\x00\x01", "/", " "])
def test_a_name_with_nothing_usable_gets_a_stable_hash_id(name: str) -> None:
    got = safe_id(name)
    assert got.startswith("g-") and len(got) == 12 and got == safe_id(name)
    assert name_problem(got, "id") is None
    assert safe_id("画像生成") != safe_id("画像")
