"""A folder source staged for real: generators, real/, generators.csv, prompts; every bad file
or line reported by name while the other generators are staged."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from fakeimg_assets.collections.manifest import collection_dir, read_manifest
from fakeimg_assets.collections.stage import stage_collection
from tests.collections.sources import header_only_png, tiny, truncated_png, write_folder_source


def _quiet(_line: str) -> None:
    pass


def _problems(c) -> dict[str, str]:
    return {p.file: p.reason for p in c.problems}


def test_a_folder_is_staged_with_its_metadata_reals_and_prompts(tmp_path: Path) -> None:
    src = write_folder_source(tmp_path / "my collection")
    c = stage_collection(tmp_path / "home", src, role="eval", log=_quiet)
    assert c.name == "my-collection" and c.role == "eval" and c.source_kind == "folder"
    assert c.source == str(src) and c.source_revision is None and c.problems == ()
    gens = {g.generator: g for g in c.generators}
    assert list(gens) == ["ADM-guided", "midjourney", "stylegan2"]  # the folders' sorted order
    sg = gens["stylegan2"]
    assert (sg.name, sg.family_group, sg.family, sg.architecture, sg.release_date, sg.license) == (
        "stylegan2", "gan", "GAN", "StyleGAN2", "2019-12-03", "nvidia-source-code")
    adm = gens["ADM-guided"]
    assert (adm.name, adm.family_group, adm.family) == ("ADM (guided)", "pixel_diffusion", None)
    assert [r.original for r in adm.images] == ["ADM (guided)/deeper/more/y.webp",
                                                "ADM (guided)/x.png"]  # nested: recursively
    assert gens["midjourney"].family_group == "commercial"
    assert [(r.original, r.prompt) for r in sg.images] == [("stylegan2/a.png", "a face"),
                                                           ("stylegan2/b.jpg", None)]
    folder = collection_dir(tmp_path / "home", c.name)
    for g in c.generators:
        assert g.n_images == len(g.images) and g.n_bytes == sum(
            (folder / r.file).stat().st_size for r in g.images)
        for r in g.images:
            stored = (folder / r.file).read_bytes()
            assert hashlib.sha256(stored).hexdigest() == r.sha256
            assert stored == (src / r.original).read_bytes()  # the original bytes, unchanged
            assert r.file == f"images/{g.generator}/{r.sha256[:16]}.{r.file.rsplit('.', 1)[1]}"
    jpeg = sg.images[1]
    assert (jpeg.format, jpeg.mode, jpeg.width, jpeg.height) == ("JPEG", "RGB", 16, 16)
    assert jpeg.file.endswith(".jpg") and adm.images[0].format == "WEBP"
    assert sorted((r.original, r.format, r.file.split("/")[0]) for r in c.reals) == [
        ("real/r1.png", "PNG", "real"), ("real/r2.jpg", "JPEG", "real")]
    assert read_manifest(tmp_path / "home", c.name) == c
    raw = json.loads((folder / "manifest.json").read_text())
    assert set(raw) == {"name", "role", "source", "source_kind", "source_revision", "added_at",
                        "revision", "generators", "reals", "problems"}
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == \
        sorted(["manifest.json", *(r.file for g in c.generators for r in g.images),
                *(r.file for r in c.reals)])


def test_bad_files_are_reported_per_file_and_the_rest_is_staged(tmp_path: Path) -> None:
    src = write_folder_source(tmp_path / "src")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(tiny(99))
    (outside / "x.png").write_bytes(tiny(98))
    sg = src / "stylegan2"
    (sg / "truncated.png").write_bytes(truncated_png(11))
    (sg / "text.png").write_text("this is not an image")
    (sg / "bomb.png").write_bytes(header_only_png(8000, 8000))  # 64 MP: over our 50 MP
    (sg / "huge-bomb.png").write_bytes(header_only_png(20000, 20000))  # over PIL's own limit
    with open(sg / "big.png", "wb") as fh:  # 70 MiB, sparse: refused before it is read
        fh.truncate(70 * 2**20)
    (sg / "evil.png").symlink_to(outside / "secret.png")
    (sg / "linkdir").symlink_to(outside, target_is_directory=True)
    (sg / "notes.txt").write_text("hello")
    (sg / "empty.png").write_bytes(b"")
    (src / "escape").symlink_to(outside, target_is_directory=True)
    (src / "stray.png").write_bytes(tiny(12))
    (src / "midjourney" / "z-dup.png").write_bytes((src / "midjourney" / "m.png").read_bytes())
    c = stage_collection(tmp_path / "home", src, log=_quiet)
    got = _problems(c)
    assert "not a readable image" in got["stylegan2/truncated.png"]
    assert "truncated" in got["stylegan2/truncated.png"]
    assert "not an image of a staged format" in got["stylegan2/text.png"]
    assert "8000x8000 pixels, over the limit of 50000000" in got["stylegan2/bomb.png"]
    assert "refused before decoding" in got["stylegan2/huge-bomb.png"]
    assert "over the limit of 67108864 bytes" in got["stylegan2/big.png"]
    assert "is a symlink to" in got["stylegan2/evil.png"] and "outside" in got[
        "stylegan2/evil.png"]
    assert "is a symlink to" in got["stylegan2/linkdir"] and "outside" in got[
        "stylegan2/linkdir"]
    assert "not an image file by its name" in got["stylegan2/notes.txt"]
    assert "empty file" in got["stylegan2/empty.png"]
    assert "a symlinked folder at the top level: not followed" in got["escape"]
    assert "not inside a generator sub-folder" in got["stray.png"]
    assert "duplicate of 'midjourney/m.png'" in got["midjourney/z-dup.png"]
    assert {p.generator for p in c.problems if p.file.startswith("stylegan2/")} == {"stylegan2"}
    gens = {g.generator: g for g in c.generators}
    assert [r.original for r in gens["stylegan2"].images] == ["stylegan2/a.png", "stylegan2/b.jpg"]
    assert gens["midjourney"].n_images == 1 and gens["ADM-guided"].n_images == 2
    assert len(c.reals) == 2
    stored = {p.read_bytes() for p in collection_dir(tmp_path / "home", c.name).rglob("*.png")}
    assert tiny(99) not in stored and tiny(98) not in stored  # nothing from outside
    assert len(got) == len(c.problems)  # one problem per file


def test_generators_csv_lines_are_checked_one_by_one(tmp_path: Path) -> None:
    src = write_folder_source(tmp_path / "src")
    (src / "generators.csv").write_text(
        "generator,family,architecture,release_date,license\n"
        "stylegan2,gan,,2019-12-03,\n"
        "ghost-gen,gan,,,\n"                      # no sub-folder
        "midjourney,alien tech,,2023-02-30,\n"    # unknown family, no architecture; bad date
        "ADM (guided),wizardry,ADM,12/05/2021,\n"  # unknown family, architecture parses
        "stylegan2,latent,,,\n"                   # listed again
        ",gan,,,\n"                               # no name
        f"midjourney,{'x' * 300},,,\n"
    )
    c = stage_collection(tmp_path / "home", src, log=_quiet)
    gens = {g.generator: g for g in c.generators}
    assert len(gens) == 3 and sum(g.n_images for g in gens.values()) == 5  # nothing lost
    assert (gens["stylegan2"].family_group, gens["stylegan2"].release_date) == ("gan",
                                                                              "2019-12-03")
    assert (gens["midjourney"].family_group, gens["midjourney"].family,
            gens["midjourney"].release_date) == ("other", "alien tech", None)
    assert (gens["ADM-guided"].family_group, gens["ADM-guided"].release_date) == (
        "pixel_diffusion", None)
    reasons = [(p.generator, p.file, p.reason) for p in c.problems]
    assert all(f == "generators.csv" for _, f, _ in reasons)
    text = "\n".join(f"{g}|{r}" for g, _, r in reasons)
    assert "ghost-gen|line 3: generator 'ghost-gen' has no sub-folder" in text
    assert "midjourney|line 4: release_date '2023-02-30' is not a valid date" in text
    assert "midjourney|line 4: unknown family 'alien tech'" in text and "'other'" in text
    assert "ADM-guided|line 5: release_date '12/05/2021' is not an ISO date YYYY-MM-DD" in text
    assert ("ADM-guided|line 5: unknown family 'wizardry' (family groups: latent_diffusion, "
            "pixel_diffusion, gan, commercial, other); family group 'pixel_diffusion' from its "
            "architecture 'ADM'") in text
    assert "stylegan2|line 6: generator 'stylegan2' listed again" in text
    assert "None|line 7: no generator name" in text
    assert "midjourney|line 8: generator 'midjourney' listed again" in text
    assert len(reasons) == 8


@pytest.mark.parametrize("csv_text, reason", [
    ("name,family\nstylegan2,gan\n", "no 'generator' column (columns: name, family)"),
    (b"generator\n\xff\xfe\n", "not UTF-8 text"),
    ('generator,family\n"stylegan2,gan\n', "not valid CSV"),
])
def test_an_unusable_generators_csv_is_reported_once_and_ignored(
        tmp_path: Path, csv_text: str | bytes, reason: str) -> None:
    src = write_folder_source(tmp_path / "src")
    path = src / "generators.csv"
    path.write_bytes(csv_text if isinstance(csv_text, bytes) else csv_text.encode())
    c = stage_collection(tmp_path / "home", src, log=_quiet)
    assert [(p.generator, p.file) for p in c.problems] == [(None, "generators.csv")]
    assert reason in c.problems[0].reason and "whole CSV ignored" in c.problems[0].reason
    assert {g.family_group for g in c.generators} == {"other"}  # defaults for every generator
    assert len(c.generators) == 3


def test_a_generators_csv_symlinked_out_of_the_folder_is_not_read(tmp_path: Path) -> None:
    src = write_folder_source(tmp_path / "src")
    secret = tmp_path / "secret.csv"
    secret.write_text("generator,family\nstylegan2,gan\n")
    (src / "generators.csv").unlink()
    (src / "generators.csv").symlink_to(secret)
    c = stage_collection(tmp_path / "home", src, log=_quiet)
    assert [p.file for p in c.problems] == ["generators.csv"]
    assert "outside" in c.problems[0].reason
    assert c.generator("stylegan2").family_group == "other"


def test_a_generator_without_usable_images_is_left_out_and_reported(tmp_path: Path) -> None:
    src = write_folder_source(tmp_path / "src")
    (src / "empty-gen").mkdir()
    (src / "broken-gen").mkdir()
    (src / "broken-gen" / "t.png").write_bytes(truncated_png(3))
    c = stage_collection(tmp_path / "home", src, log=_quiet)
    assert [g.generator for g in c.generators] == ["ADM-guided", "midjourney", "stylegan2"]
    got = {(p.generator, p.file): p.reason for p in c.problems}
    assert got[("empty-gen", "empty-gen")] == "no usable image: generator left out"
    assert got[("broken-gen", "broken-gen")] == "no usable image: generator left out"
    assert ("broken-gen", "broken-gen/t.png") in got


def test_two_names_with_one_id_keep_the_first_and_report_the_second(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i, name in enumerate(["Big GAN", "Big-GAN", "Big__GAN"]):
        (src / name).mkdir(parents=True)
        (src / name / "a.png").write_bytes(tiny(40 + i))
    c = stage_collection(tmp_path / "home", src, log=_quiet)
    assert [(g.generator, g.name) for g in c.generators] == [("Big-GAN", "Big GAN"),
                                                             ("Big__GAN", "Big__GAN")]
    (p,) = c.problems
    assert p.generator == "Big-GAN" and p.file == "Big-GAN"
    assert "has the id 'Big-GAN' of generator 'Big GAN': left out" in p.reason


def test_duplicates_are_kept_once_per_generator_not_across(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for gen in ("g1", "g2"):
        (src / gen).mkdir(parents=True)
        for name in ("a.png", "b.png", "c.png"):
            (src / gen / name).write_bytes(tiny(7))  # the same bytes three times
    c = stage_collection(tmp_path / "home", src, log=_quiet)
    assert [(g.generator, [r.original for r in g.images]) for g in c.generators] == [
        ("g1", ["g1/a.png"]), ("g2", ["g2/a.png"])]
    assert [(p.generator, p.file) for p in c.problems] == [
        ("g1", "g1/b.png"), ("g1", "g1/c.png"), ("g2", "g2/b.png"), ("g2", "g2/c.png")]
    assert all("duplicate of" in p.reason and "kept once" in p.reason for p in c.problems)


def test_one_image_per_worker_count_gives_the_same_manifest(tmp_path: Path) -> None:
    src = write_folder_source(tmp_path / "src")
    for i in range(12):
        (src / "stylegan2" / f"n{i:02d}.png").write_bytes(tiny(100 + i))
    (src / "stylegan2" / "n99.png").write_bytes(tiny(100))  # a duplicate of n00
    one = stage_collection(tmp_path / "h1", src, workers=1, log=_quiet).to_dict()
    four = stage_collection(tmp_path / "h4", src, workers=4, log=_quiet).to_dict()
    one.pop("added_at"), four.pop("added_at")
    assert one == four
    assert [p["file"] for p in one["problems"]] == ["stylegan2/n99.png"]


def test_a_hidden_file_or_folder_is_not_a_generator_or_an_image(tmp_path: Path) -> None:
    src = write_folder_source(tmp_path / "src")
    (src / ".git").mkdir()
    (src / ".git" / "x.png").write_bytes(tiny(50))
    (src / "stylegan2" / ".thumb.png").write_bytes(tiny(51))
    c = stage_collection(tmp_path / "home", src, log=_quiet)
    assert c.problems == () and [g.n_images for g in c.generators] == [2, 1, 2]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable files")
def test_an_unreadable_file_is_reported(tmp_path: Path) -> None:
    src = write_folder_source(tmp_path / "src")
    locked = src / "stylegan2" / "locked.png"
    locked.write_bytes(tiny(60))
    locked.chmod(0)
    try:
        c = stage_collection(tmp_path / "home", src, log=_quiet)
    finally:
        locked.chmod(0o644)
    assert "cannot be opened" in _problems(c)["stylegan2/locked.png"]


def test_a_file_swapped_for_a_symlink_after_listing_is_not_read(tmp_path: Path) -> None:
    """The listing saw a plain file; by the time a worker reads it, it links out: refused."""
    from fakeimg_assets.collections.folder import folder_source
    from fakeimg_assets.real.folder_files import FolderFileError

    src = write_folder_source(tmp_path / "src")
    (tmp_path / "secret.png").write_bytes(tiny(90))
    items = folder_source(src).items
    first = next(items)  # the first generator's folder is listed now
    assert first.original == "ADM (guided)/deeper/more/y.webp"
    second = next(items)
    target = src / second.original
    target.unlink()
    target.symlink_to(tmp_path / "secret.png")
    with pytest.raises(FolderFileError, match="outside"):
        second.load()
