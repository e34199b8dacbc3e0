"""Captions beside real photos: per-image .txt/.json files or an imagefolder caption table.

The Hub's imagefolder convention is a `metadata.csv` or `metadata.jsonl` with a `file_name`
column and a text column; folders often carry a `captions.csv` of the same shape instead.
A photo without any caption gets one from its file name, so no photo is dropped for that.

A caption becomes a prompt, so caption files are read like photos (`folder_files.py`:
never through a symlink out of the folder) and capped: a caption file over
`MAX_CAPTION_FILE_BYTES`, a table over `MAX_TABLE_BYTES` or a caption over
`MAX_CAPTION_CHARS` is a `CaptionError` naming the file, and the photo it belongs to is
screened out with that reason. A table that cannot be read at all is named too, for every
photo under it that has no other caption; nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from fakeimg_assets.real.folder_files import FolderFileError, list_folder, read_confined

CAPTION_TABLES = ("metadata.csv", "metadata.jsonl", "captions.csv", "captions.jsonl")
TEXT_COLUMNS = ("text", "caption", "prompt")
MAX_CAPTION_CHARS = 4096  # long recaptions run to ~2,000 characters; prompts are far shorter
MAX_CAPTION_FILE_BYTES = 1024 * 1024  # one .txt/.json beside a photo
MAX_TABLE_BYTES = 256 * 2**20  # one caption table for a whole folder
_CSV_LIMIT_LOCK = threading.Lock()


class CaptionError(ValueError):
    """A caption that cannot be used; the message names the file and why."""


def _text_of(row: dict) -> str | None:
    for key in TEXT_COLUMNS:
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _checked(caption: str, what: str) -> str | CaptionError:
    if len(caption) > MAX_CAPTION_CHARS:
        return CaptionError(
            f"caption {what} is {len(caption)} characters, over the limit of "
            f"{MAX_CAPTION_CHARS}"
        )
    return caption


def _csv_rows(text: str) -> list[dict]:
    """CSV rows with fields as long as the table itself (Python's csv stops at 128 KiB and
    would lose the whole table to one long field); captions are capped per row after."""
    with _CSV_LIMIT_LOCK:  # the limit is process-wide: raise it only around this parse
        old = csv.field_size_limit()
        csv.field_size_limit(max(old, len(text) + 1))
        try:
            return list(csv.DictReader(io.StringIO(text), strict=True))  # no silent misparse
        finally:
            csv.field_size_limit(old)


def parse_caption_table(name: str, text: str, where: str = "") -> dict[str, str | CaptionError]:
    """`file_name -> caption` from a CSV or JSON-lines caption table.

    Rows without a file name or caption (and JSON lines that do not parse) give no caption;
    an over-long caption is a `CaptionError` for its file; a CSV that does not parse raises
    `CaptionError` naming the table (`where`, else `name`).
    """
    where = where or name
    out: dict[str, str | CaptionError] = {}
    if name.endswith(".jsonl"):
        rows: list[dict] = []
        for line in text.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    else:
        try:
            rows = _csv_rows(text)
        except csv.Error as exc:
            raise CaptionError(f"caption table {where!r} is not valid CSV: {exc}") from exc
    for row in rows:
        file_name, caption = row.get("file_name"), _text_of(row)
        if isinstance(file_name, str) and file_name and caption:
            key = file_name.strip().lstrip("./")
            out[key] = _checked(caption, f"for {key!r} in {where!r}")
    return out


@dataclass
class CaptionTables:
    """Captions from a folder's tables, and the tables that could not be read."""

    captions: dict[str, str | CaptionError] = field(default_factory=dict)
    broken: dict[str, CaptionError] = field(default_factory=dict)  # folder prefix -> why

    def lookup(self, rel: str) -> str | None:
        """The table caption of `rel`; raises when it is refused or its table is broken."""
        found = self.captions.get(rel)
        if isinstance(found, CaptionError):
            raise found
        if found:
            return found
        for prefix, error in sorted(self.broken.items()):
            if rel.startswith(prefix):
                raise CaptionError(f"{error} (the photo has no other caption)")
        return None


def caption_tables(folder: Path, within: Path | None = None) -> CaptionTables:
    """Captions from every caption table in `folder` or its sub-folders (none hidden)."""
    folder = Path(folder)
    within = (within or folder).resolve()
    out = CaptionTables()
    entries = list_folder(folder, within, lambda n: n in CAPTION_TABLES, report_dirs=False)
    for entry in entries:
        prefix = entry.rel.rpartition("/")[0]
        prefix = prefix + "/" if prefix else ""
        what = f"caption table {entry.rel!r}"
        try:
            if entry.error is not None:
                raise entry.error
            data = read_confined(entry.path, within, MAX_TABLE_BYTES, what)
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise CaptionError(f"{what} is not UTF-8 text: {exc.reason}") from exc
            parsed = parse_caption_table(entry.path.name, text, entry.rel)
        except FolderFileError as exc:
            out.broken[prefix] = CaptionError(f"{what} refused: {exc}")
            continue
        except CaptionError as exc:
            out.broken[prefix] = exc
            continue
        out.captions.update({prefix + k: v for k, v in parsed.items()})
    return out


def _sidecar(path: Path, within: Path) -> str | None:
    """The caption in a .txt/.json beside the photo; raises `CaptionError` on a bad one."""
    for suffix in (".txt", ".json"):
        side = path.with_suffix(suffix)
        if not (side.is_symlink() or side.exists()):
            continue
        what = f"caption file {side.name!r}"
        try:
            data = read_confined(side, within, MAX_CAPTION_FILE_BYTES, what)
        except FolderFileError as exc:
            raise CaptionError(str(exc)) from exc
        if suffix == ".txt":
            text: str | None = data.decode("utf-8", errors="replace").strip()
        else:
            try:
                loaded = json.loads(data)
            except ValueError as exc:
                raise CaptionError(f"{what} is not valid JSON: {exc}") from exc
            text = _text_of(loaded) if isinstance(loaded, dict) else None
        if text:
            checked = _checked(text, f"in {what}")
            if isinstance(checked, CaptionError):
                raise checked
            return checked
    return None


def caption_for(path: Path, rel: str, tables: CaptionTables, within: Path | None = None) -> str:
    """A photo's caption: a .txt/.json beside it, else its caption-table row, else its name.

    Raises `CaptionError` (naming the file) when the caption that applies cannot be used.
    """
    within = (within or path.parent).resolve()
    return (
        _sidecar(path, within)
        or tables.lookup(rel)
        or "a photo of " + Path(rel).stem.replace("_", " ").replace("-", " ")
    )
