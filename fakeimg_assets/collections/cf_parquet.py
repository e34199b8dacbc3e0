"""Parquet files in the Community Forensics release layout.

Columns: `image_data` (the file's bytes, or a struct with a `bytes` field as the Hugging Face
datasets `Image` feature writes it), `model_name`, `label` (1 or 'fake', 0 or 'real'; true
and false too), and optionally `architecture`, `family`, `image_name`, `prompt` (the rest of
the release's columns, `format`, `real_source`, `split`, `nsfw_flag`..., are not needed: the
format comes from decoding the bytes).

Generators are the distinct `model_name` values of the fake rows, in the order they first
appear; a generator's family group comes from its first row's `family`/`architecture`
(`metadata.py`; unknown text is reported once per generator). Real rows are the
collection's reals. A row without bytes, with an unknown label or a fake without a
`model_name` is reported by file, row index and `image_name`; a file that is not Parquet or
lacks a required column is reported once and skipped. Files are read batch by batch
(`BATCH_ROWS` rows of the needed columns), never whole.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path

from fakeimg_assets.collections.metadata import GeneratorInfo, family_group_for, text_value
from fakeimg_assets.collections.source import Source, SourceItem, SourceProblem, prompt_value
from fakeimg_assets.real.folder_files import FolderFileError, confined, list_folder

REQUIRED = ("image_data", "model_name", "label")
OPTIONAL = ("architecture", "family", "image_name", "prompt")
BATCH_ROWS = 16
PARQUET_SUFFIX = ".parquet"
_FAKE = {"1", "fake", "true", "generated", "synthetic"}
_REAL = {"0", "real", "false"}


def label_of(value: object) -> str | None:
    """'fake', 'real' or None (unknown) for a `label` cell."""
    if isinstance(value, bool):
        return "fake" if value else "real"
    if isinstance(value, int | float) and value in (0, 1):
        return "fake" if value == 1 else "real"
    if isinstance(value, str):
        text = value.strip().lower()
        return "fake" if text in _FAKE else "real" if text in _REAL else None
    return None


def parquet_files(source: str, *, within: Path | None = None) -> tuple[list[tuple[Path, str]],
                                                                        list[SourceProblem]]:
    """(path, name shown) of each Parquet file of a file, a folder (recursively) or a glob,
    sorted; in a folder, files that are symlinks out of it (or `within`) are reported."""
    path = Path(source)
    if path.is_dir():
        root = (within or path).resolve()
        problems, files = [], []
        for entry in list_folder(path, root, lambda n: n.lower().endswith(PARQUET_SUFFIX),
                                 report_dirs=False):
            if entry.error is not None:
                problems.append(SourceProblem(None, entry.rel, str(entry.error)))
            else:
                files.append((entry.path, entry.rel))
        return files, problems
    if path.is_file():
        return [(path, path.name)], []
    matches = sorted(glob.glob(os.path.expanduser(source), recursive=True))
    return [(Path(m), m) for m in matches
            if m.lower().endswith(PARQUET_SUFFIX) and Path(m).is_file()], []


def cf_parquet_source(
    files: list[tuple[Path, str]], *, location: str, default_name: str,
    within: Path | None = None, kind: str = "cf_parquet", revision: str | None = None,
    problems: list[SourceProblem] | None = None,
) -> Source:
    """A source over CF-layout Parquet files (read when `items` is read)."""
    if not files:
        raise FileNotFoundError(f"collection source {location!r} holds no {PARQUET_SUFFIX} files")
    source = Source(kind=kind, location=location, default_name=default_name, revision=revision,
                    items=iter(()), problems=list(problems or []))
    source.items = _items(files, within, source)
    return source


def _open_file(path: Path, within: Path | None):  # -> a binary file object
    real = confined(path, within, repr(path.name)) if within is not None else path
    fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    return os.fdopen(fd, "rb")


def _items(files: list[tuple[Path, str]], within: Path | None,
           source: Source) -> Iterator[SourceItem]:
    import pyarrow.parquet as pq

    for path, shown in files:
        try:
            fh = _open_file(path, within)
        except FolderFileError as exc:
            source.problems.append(SourceProblem(None, shown, str(exc)))
            continue
        except OSError as exc:
            source.problems.append(SourceProblem(None, shown, f"cannot be opened: {exc}"))
            continue
        with fh:
            try:
                pf = pq.ParquetFile(fh)
            except Exception as exc:  # noqa: BLE001 - pyarrow's errors: not Parquet, damaged
                source.problems.append(SourceProblem(None, shown, (
                    f"not a readable Parquet file: {str(exc)[:300]}: skipped")))
                continue
            yield from _file_items(pf, shown, source)


def _file_items(pf, shown: str, source: Source) -> Iterator[SourceItem]:  # pf: ParquetFile
    import pyarrow as pa

    schema = pf.schema_arrow
    missing = [c for c in REQUIRED if c not in schema.names]
    data_type = schema.field("image_data").type if "image_data" in schema.names else None
    is_struct = data_type is not None and pa.types.is_struct(data_type)
    if not missing and is_struct and data_type.get_field_index("bytes") < 0:
        missing = ["image_data.bytes"]
    if missing:
        source.problems.append(SourceProblem(None, shown, (
            f"not in the Community Forensics layout: no column {', '.join(missing)} "
            f"(columns: {', '.join(schema.names)[:300]}): skipped")))
        return
    columns = list(REQUIRED) + [c for c in OPTIONAL if c in schema.names]
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=columns):
            data = batch.column("image_data")
            if is_struct:
                data = data.field("bytes")
            cells = {c: batch.column(c).to_pylist() for c in columns if c != "image_data"}
            for i in range(batch.num_rows):
                yield _row_item(data[i].as_py(), {c: v[i] for c, v in cells.items()},
                                shown, row + i, source)
            row += batch.num_rows
    except Exception as exc:  # noqa: BLE001 - a damaged page: the rest of the file is lost
        source.problems.append(SourceProblem(None, shown, (
            f"unreadable from row {row} on: {str(exc)[:300]}: the remaining rows skipped")))


def _row_item(data: object, cells: dict, shown: str, row: int, source: Source) -> SourceItem:
    image_name, _ = text_value(cells.get("image_name"), "image_name")
    original = f"{shown}#{row}" + (f" ({image_name})" if image_name else "")
    label = label_of(cells.get("label"))
    model, _ = text_value(cells.get("model_name"), "model_name")
    generator = model if label == "fake" else None
    if label is None:
        return SourceItem(None, original, error=f"unknown label {cells.get('label')!r} "
                          "(expected 1/'fake' or 0/'real'): row skipped")
    if label == "fake" and model is None:
        return SourceItem(None, original, error="a fake row without a model_name: row skipped")
    if generator is not None and generator not in source.generators:
        source.generators[generator] = _generator_info(generator, cells, original, source)
    prompt, dropped = prompt_value(cells.get("prompt"))
    if dropped:
        source.problems.append(SourceProblem(generator, original, dropped))
    if not isinstance(data, bytes | bytearray) or not data:
        return SourceItem(generator, original, error="no image bytes (null or empty "
                          "image_data): row skipped")
    return SourceItem(generator, original, prompt=prompt, data=bytes(data))


def _generator_info(name: str, cells: dict, original: str, source: Source) -> GeneratorInfo:
    values: dict[str, str | None] = {}
    for column in ("family", "architecture"):
        values[column], dropped = text_value(cells.get(column), column)
        if dropped:
            source.problems.append(SourceProblem(name, original, dropped))
    group, why = family_group_for(values["family"], values["architecture"])
    if why:
        source.problems.append(SourceProblem(name, original, f"generator {name!r}: {why}"))
    return GeneratorInfo(name=name, family_group=group, **values)
