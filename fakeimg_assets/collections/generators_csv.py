"""`generators.csv` of a folder source: one line per generator, columns
`generator,family,architecture,release_date,license` (only `generator` required; column
names are matched without case or surrounding spaces, other columns are ignored).

Every line stands alone: a line naming a generator that has no sub-folder, a second line for
one generator, an unknown family (the group then comes from the architecture if that
parses, else 'other'), a date that is not YYYY-MM-DD or an over-long value is reported with
its line number and the rest of the line (and file) still counts. A CSV that cannot be
read at all (not UTF-8, not CSV, no `generator` column, over `MAX_CSV_BYTES`) is reported
once and ignored: every generator then gets the defaults.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from fakeimg_assets.collections.metadata import (
    GeneratorInfo,
    family_group_for,
    release_date_problem,
    text_value,
)
from fakeimg_assets.collections.source import SourceProblem

GENERATORS_CSV = "generators.csv"
COLUMNS = ("generator", "family", "architecture", "release_date", "license")
MAX_CSV_BYTES = 16 * 2**20


def parse_generators_csv(
    data: bytes, generators: set[str], where: str = GENERATORS_CSV
) -> tuple[dict[str, GeneratorInfo], list[SourceProblem]]:
    """Metadata by generator name (only for names in `generators`) and the problems found."""
    problems: list[SourceProblem] = []

    def report(generator: str | None, reason: str) -> None:
        problems.append(SourceProblem(generator, where, reason))

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report(None, f"not UTF-8 text ({exc.reason} at byte {exc.start}): the whole CSV ignored")
        return {}, problems
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        if "generator" not in header:
            report(None, f"no 'generator' column (columns: {', '.join(header)[:200] or 'none'});"
                         f" expected {','.join(COLUMNS)}: the whole CSV ignored")
            return {}, problems
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        report(None, f"not valid CSV (line {reader.line_num}): {exc}: the whole CSV ignored")
        return {}, problems
    out: dict[str, GeneratorInfo] = {}
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        values = dict(zip(header, row, strict=False))
        name = (values.get("generator") or "").strip()
        if not name:
            report(None, f"line {line}: no generator name: line ignored")
        elif name not in generators:
            report(name, f"line {line}: generator {name!r} has no sub-folder: line ignored")
        elif name in out:
            report(name, f"line {line}: generator {name!r} listed again: the first line counts")
        else:
            out[name] = _line(name, values, lambda r, n=name, ln=line: report(n, f"line {ln}: {r}"))
    return out, problems


def _line(name: str, values: dict[str, str], report: Callable[[str], None]) -> GeneratorInfo:
    cleaned: dict[str, str | None] = {}
    for column in COLUMNS[1:]:
        value, dropped = text_value(values.get(column), column)
        if dropped:
            report(dropped)
        cleaned[column] = value
    date = cleaned["release_date"]
    if date is not None and (bad := release_date_problem(date)):
        report(f"{bad}: release date left empty")
        cleaned["release_date"] = None
    group, why = family_group_for(cleaned["family"], cleaned["architecture"])
    if why:
        report(why)
    return GeneratorInfo(name=name, family_group=group, **cleaned)
