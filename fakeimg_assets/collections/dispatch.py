"""Which reader a collection SOURCE goes to.

- `hf://datasets/ORG/NAME`: a Hub dataset repo (`hub_source.py`);
- a `.parquet` file, or a glob (`*`, `?`, `[`) matching `.parquet` files: CF Parquet;
- a folder: a folder source (`folder.py`), unless it holds `.parquet` files and no image
  files (at any depth; hidden entries aside), which is a CF release folder (`cf_parquet.py`).
Anything else fails naming SOURCE and these forms; a path that does not exist fails naming it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fakeimg_assets.collections.cf_parquet import PARQUET_SUFFIX, cf_parquet_source, parquet_files
from fakeimg_assets.collections.folder import folder_source
from fakeimg_assets.collections.hub_source import HUB_PREFIX, hub_dataset_source
from fakeimg_assets.collections.source import Source
from fakeimg_assets.lib.paths import shown_id
from fakeimg_assets.real.photo_folder import IMAGE_SUFFIXES

ACCEPTED = (
    "a folder (one sub-folder per generator, optional real/ and generators.csv), a .parquet "
    "file, a folder or glob of .parquet files in the Community Forensics layout, or "
    f"{HUB_PREFIX}ORG/NAME"
)
_GLOB = "*?["


def open_source(source: str | os.PathLike[str], *, hub: Any = None) -> Source:
    """The opened source (listing read; images read as its items are)."""
    text = os.fspath(source) if isinstance(source, os.PathLike) else source
    if not isinstance(text, str) or not text or "\x00" in text:
        raise ValueError(f"invalid collection source {shown_id(source)}: expected {ACCEPTED}")
    if text.startswith("hf://"):
        if not text.startswith(HUB_PREFIX):
            raise ValueError(f"collection source {shown_id(text)}: only Hub dataset repos "
                             f"({HUB_PREFIX}ORG/NAME) are collections; expected {ACCEPTED}")
        if hub is None:
            from resources import HubResource

            hub = HubResource()  # HF_ENDPOINT and HF_TOKEN from the environment
        return hub_dataset_source(hub, text)
    path = Path(text).expanduser()
    if path.is_dir():
        if _is_parquet_folder(path):
            files, problems = parquet_files(str(path))
            return cf_parquet_source(files, location=text, default_name=path.resolve().name,
                                     within=path.resolve(), problems=problems)
        return folder_source(path, location=text)
    if path.is_file():
        if path.suffix.lower() == PARQUET_SUFFIX:
            files, _ = parquet_files(str(path))
            return cf_parquet_source(files, location=text, default_name=path.stem)
        raise ValueError(f"collection source {shown_id(text)} is a file but not a "
                         f"{PARQUET_SUFFIX} file; expected {ACCEPTED}")
    if any(c in text for c in _GLOB):
        files, _ = parquet_files(text)
        if not files:
            raise FileNotFoundError(f"collection source {shown_id(text)} matches no "
                                    f"{PARQUET_SUFFIX} files")
        return cf_parquet_source(files, location=text, default_name=_glob_name(text))
    raise FileNotFoundError(f"collection source {shown_id(text)} does not exist; expected "
                            f"{ACCEPTED}")


def _is_parquet_folder(folder: Path) -> bool:
    """Parquet files and no image files anywhere under `folder` (hidden entries aside)."""
    seen_parquet = False
    for _root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            suffix = Path(name).suffix.lower()
            if name.startswith("."):
                continue
            if suffix in IMAGE_SUFFIXES:
                return False
            seen_parquet = seen_parquet or suffix == PARQUET_SUFFIX
    return seen_parquet


def _glob_name(pattern: str) -> str:
    """The collection name a glob suggests: its deepest folder without glob characters."""
    parts = Path(pattern).expanduser().parts
    plain = [p for p in parts[: next((i for i, p in enumerate(parts)
                                      if any(c in p for c in _GLOB)), len(parts))]]
    return Path(*plain).resolve().name if plain else "parquet"
