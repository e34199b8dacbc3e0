"""What a source says about one generator (family, architecture, release date, licence), and
the family group that follows from it.

The family group comes from `family` when the source gives one, else from `architecture`
(`lib.family_groups.parse_family_group` reads the usual spellings). Text the parser does not
know is not guessed at: the group falls back to the architecture's (when `family` was the
unknown one) or to 'other', and the caller reports the reason. Nothing given at all is
'other' without a report (the metadata is optional).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from fakeimg_assets.lib.family_groups import FAMILY_GROUPS, parse_family_group

MAX_TEXT_CHARS = 200  # one metadata value (family, architecture, licence)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


@dataclass(frozen=True)
class GeneratorInfo:
    """One generator's metadata as the source gives it, and its family group."""

    name: str  # as the source spells it
    family_group: str = "other"
    family: str | None = None
    architecture: str | None = None
    release_date: str | None = None
    license: str | None = None


def _group(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return parse_family_group(text)
    except ValueError:
        return None


def family_group_for(family: str | None, architecture: str | None) -> tuple[str, str | None]:
    """(family group, reason to report or None) from a source's family and architecture."""
    known = ", ".join(FAMILY_GROUPS)
    if family:
        group = _group(family)
        if group is not None:
            return group, None
        fallback = _group(architecture)
        if fallback is not None:
            return fallback, (f"unknown family {family!r} (family groups: {known}); "
                              f"family group {fallback!r} from its architecture {architecture!r}")
        return "other", f"unknown family {family!r} (family groups: {known}); family group 'other'"
    if architecture:
        group = _group(architecture)
        if group is not None:
            return group, None
        return "other", (f"architecture {architecture!r} names no known family group "
                         f"({known}); family group 'other'")
    return "other", None


def release_date_problem(text: str) -> str | None:
    """Why `text` is no ISO date YYYY-MM-DD, or None."""
    if not _DATE.fullmatch(text):
        return f"release_date {text[:40]!r} is not an ISO date YYYY-MM-DD"
    try:
        dt.date.fromisoformat(text)
    except ValueError as exc:
        return f"release_date {text!r} is not a valid date: {exc}"
    return None


def text_value(value: object, what: str) -> tuple[str | None, str | None]:
    """(cleaned text or None, reason it was dropped or None) for one metadata value."""
    if value is None:
        return None, None
    text = str(value).strip()
    if not text:
        return None, None
    if len(text) > MAX_TEXT_CHARS or any(ord(c) < 32 for c in text):
        return None, f"{what} value dropped: over {MAX_TEXT_CHARS} characters or control characters"
    return text, None
