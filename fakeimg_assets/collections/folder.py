"""A folder source: one sub-folder per generator, an optional `real/` sub-folder of real
images, an optional `generators.csv` (`generators_csv.py`).

```
SOURCE/
  generators.csv          optional
  metadata.csv            optional prompts: `file_name,text` (imagefolder), anywhere
  stylegan2/…             images of generator 'stylegan2'
  midjourney-v6/…
  real/…                  optional real images
```
A generator's images are every image file under its sub-folder, nested folders included
(recursively, sorted by path): a generator is a top-level sub-folder, never a nested one.
Prompts come from imagefolder caption tables (`metadata.csv`/`.jsonl`, `captions.csv`/
`.jsonl`; `real/captions.py`), else none.

Nothing outside the folder (or `within`, for a Hub snapshot whose files link into its cache)
is read: files and folders are listed and read through `real/folder_files.py`, so a symlink
that leaves it is reported, never followed, and every read is capped at `MAX_IMAGE_BYTES`
before a byte is read. Top-level symlinked folders are not taken as generators. Everything
else that is not taken is reported per file: files that are not images by name, stray files
beside the generator folders, a generator folder without images; reading and decoding errors
come later, per image, from the stager.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

from fakeimg_assets.collections.decode import MAX_IMAGE_BYTES
from fakeimg_assets.collections.generators_csv import (
    GENERATORS_CSV,
    MAX_CSV_BYTES,
    parse_generators_csv,
)
from fakeimg_assets.collections.metadata import GeneratorInfo
from fakeimg_assets.collections.source import Source, SourceItem, SourceProblem, prompt_value
from fakeimg_assets.real.captions import CAPTION_TABLES, CaptionError, CaptionTables, caption_tables
from fakeimg_assets.real.folder_files import FolderFileError, list_folder, read_confined
from fakeimg_assets.real.photo_folder import IMAGE_SUFFIXES

REAL_FOLDER = "real"
_STRAY = ("not inside a generator sub-folder: skipped (put each generator's images in its "
          "own folder)")


def folder_source(
    folder: str | os.PathLike[str], *, within: Path | None = None, location: str | None = None,
    kind: str = "folder", revision: str | None = None, default_name: str | None = None,
) -> Source:
    """Open a folder source (its listing is read now, the images when `items` is read)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"collection folder {str(folder)!r} does not exist")
    within = (within or folder).resolve()
    source = Source(kind=kind, location=location or str(folder),
                    default_name=default_name or folder.resolve().name, revision=revision,
                    items=iter(()))
    generators, has_real, csv_path = _top_level(folder, within, source.problems)
    metadata: dict[str, GeneratorInfo] = {}
    if csv_path is not None:
        try:
            data = read_confined(csv_path, within, MAX_CSV_BYTES, GENERATORS_CSV)
        except FolderFileError as exc:
            source.problems.append(SourceProblem(None, GENERATORS_CSV,
                                                 f"{exc}: the whole CSV ignored"))
        else:
            metadata, problems = parse_generators_csv(data, set(generators))
            source.problems.extend(problems)
    source.generators = {g: metadata.get(g) or GeneratorInfo(name=g) for g in generators}
    tables = caption_tables(folder, within)
    for prefix, error in sorted(tables.broken.items()):
        source.problems.append(SourceProblem(None, prefix or ".", f"prompts not taken: {error}"))
    source.items = _items(folder, within, generators, has_real, tables, source.problems)
    return source


def _top_level(
    folder: Path, within: Path, problems: list[SourceProblem]
) -> tuple[list[str], bool, Path | None]:
    """(generator folder names, whether `real/` exists, the CSV's path) of the top level."""
    generators, has_real, csv_path = [], False, None
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            if entry.name == GENERATORS_CSV:
                csv_path = Path(entry.path)  # read_confined refuses it if it leaves
            elif entry.is_dir():
                problems.append(SourceProblem(None, entry.name, "a symlinked folder at the top "
                                              "level: not followed (generator folders must be "
                                              "folders)"))
            elif entry.name not in CAPTION_TABLES:  # a Hub snapshot's files are links
                problems.append(SourceProblem(None, entry.name, _STRAY))
        elif entry.is_dir(follow_symlinks=False):
            if entry.name == REAL_FOLDER:
                has_real = True
            else:
                generators.append(entry.name)
        elif entry.name == GENERATORS_CSV:
            csv_path = Path(entry.path)
        elif entry.name not in CAPTION_TABLES:
            problems.append(SourceProblem(None, entry.name, _STRAY))
    return generators, has_real, csv_path


def _items(folder: Path, within: Path, generators: list[str], has_real: bool,
           tables: CaptionTables, problems: list[SourceProblem]) -> Iterator[SourceItem]:
    groups: list[tuple[str | None, str]] = [(g, g) for g in generators]
    if has_real:
        groups.append((None, REAL_FOLDER))
    for generator, sub in groups:
        entries = list_folder(folder / sub, within, lambda _name: True, report_dirs=True)
        for entry in entries:
            rel = f"{sub}/{entry.rel}"
            if Path(entry.rel).name in CAPTION_TABLES:
                continue
            if entry.error is not None:
                yield SourceItem(generator, rel, error=str(entry.error))
                continue
            if Path(rel).suffix.lower() not in IMAGE_SUFFIXES:
                yield SourceItem(generator, rel, error=(
                    f"not an image file by its name (image files end in "
                    f"{', '.join(IMAGE_SUFFIXES)}): skipped"))
                continue
            prompt = _prompt(tables, rel, generator, problems)
            yield SourceItem(generator, rel, prompt=prompt, read=functools.partial(
                read_confined, entry.path, within, MAX_IMAGE_BYTES, f"file {rel!r}"))


def _prompt(tables: CaptionTables, rel: str, generator: str | None,
            problems: list[SourceProblem]) -> str | None:
    found = tables.captions.get(rel)
    if isinstance(found, CaptionError):
        problems.append(SourceProblem(generator, rel, f"prompt dropped (image kept): {found}"))
        return None
    prompt, dropped = prompt_value(found)
    if dropped:
        problems.append(SourceProblem(generator, rel, dropped))
    return prompt
