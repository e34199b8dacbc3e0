"""Captions beside real photos: per-image .txt/.json files or an imagefolder caption table.

The Hub's imagefolder convention is a `metadata.csv` or `metadata.jsonl` with a `file_name`
column and a text column; folders often carry a `captions.csv` of the same shape instead.
A photo without any caption gets one from its file name, so no photo is dropped for that.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

CAPTION_TABLES = ("metadata.csv", "metadata.jsonl", "captions.csv", "captions.jsonl")
TEXT_COLUMNS = ("text", "caption", "prompt")


def _text_of(row: dict) -> str | None:
    for key in TEXT_COLUMNS:
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def parse_caption_table(name: str, text: str) -> dict[str, str]:
    """`file_name -> caption` from a CSV or JSON-lines caption table; bad rows are skipped."""
    out: dict[str, str] = {}
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
        rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        file_name, caption = row.get("file_name"), _text_of(row)
        if isinstance(file_name, str) and file_name and caption:
            out[file_name.strip().lstrip("./")] = caption
    return out


def caption_tables(folder: Path) -> dict[str, str]:
    """Captions from every caption table found in `folder` or its sub-folders."""
    out: dict[str, str] = {}
    for table in sorted(p for name in CAPTION_TABLES for p in Path(folder).rglob(name)):
        prefix = table.parent.relative_to(folder).as_posix()
        rel = "" if prefix == "." else prefix + "/"
        try:
            parsed = parse_caption_table(table.name, table.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        out.update({rel + k: v for k, v in parsed.items()})
    return out


def _sidecar(path: Path) -> str | None:
    txt = path.with_suffix(".txt")
    if txt.is_file():
        text = txt.read_text(encoding="utf-8", errors="replace").strip()
        if text:
            return text
    js = path.with_suffix(".json")
    if js.is_file():
        try:
            data = json.loads(js.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if isinstance(data, dict):
            return _text_of(data)
    return None


def caption_for(path: Path, rel: str, tables: dict[str, str]) -> str:
    """A photo's caption: a .txt/.json beside it, else its caption-table row, else its name."""
    return (
        _sidecar(path)
        or tables.get(rel)
        or "a photo of " + Path(rel).stem.replace("_", " ").replace("-", " ")
    )
