"""What one entry of a Hub model listing may hold before the crawl takes it.

The endpoint (`HF_ENDPOINT`: often a mirror or proxy nobody here controls) answers
`GET /api/models` with JSON entries, and an entry's `id` becomes a Dagster partition key,
file names and a download target; its `sha` is compared with pinned revisions; its times
order the crawl. So every entry is vetted whole before any of it is used: an entry with an
id that is not a Hub repo id (`paths.model_id_problem`), a `sha` that is neither null nor
40 lowercase hex, an unparseable time, or a field of the wrong JSON type is refused whole,
never half-kept with the bad field nulled (an endpoint that lies in one field is not
trusted for the others). A refused entry is a `ListingReject` (the id as listed, and which
field was wrong); the crawl records it in `crawl_rejects` and carries on with the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fakeimg_assets.hub_client.answers import COMMIT_RE
from fakeimg_assets.lib.paths import model_id_problem
from fakeimg_assets.lib.times import parse_time

MAX_RAW_ID_CHARS = 1000  # the listed id kept in `crawl_rejects`; longer ones are cut
_TIME_FIELDS = (("createdAt", "created_at"), ("lastModified", "last_modified"))
_TEXT_FIELDS = ("author", "pipeline_tag", "library_name")
_COUNT_FIELDS = ("downloads", "likes")
_MAX_COUNT = 2**63  # the column is Int64


@dataclass(frozen=True)
class ListingReject:
    """A listing entry the crawl refused: the id as listed (text) and why."""

    raw_id: str
    reason: str


def raw_id_of(entry: Any) -> str:
    """The entry's `id` as text for the record: a string as sent (cut past
    `MAX_RAW_ID_CHARS`, its length noted), anything else (or an entry that is no object)
    as JSON."""
    value = entry.get("id") if isinstance(entry, dict) else entry
    if not isinstance(value, str) or not isinstance(entry, dict):
        value = json.dumps(value, default=repr, ensure_ascii=False)
    if len(value) > MAX_RAW_ID_CHARS:
        return f"{value[:MAX_RAW_ID_CHARS]}… ({len(value)} chars)"
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:80]}… ({len(text)} chars)"


def _field_problem(entry: dict[str, Any]) -> str | None:
    sha = entry.get("sha")
    if sha is not None and not (isinstance(sha, str) and COMMIT_RE.fullmatch(sha)):
        return f"sha {_show(sha)} is neither null nor a 40-hex commit sha"
    for names in _TIME_FIELDS:
        key = next((n for n in names if entry.get(n) is not None), None)
        if key is None:
            continue
        value = entry[key]
        try:
            if not isinstance(value, str):
                raise TypeError
            parse_time(value)
        except (TypeError, ValueError, OverflowError):
            return f"{key} {_show(value)} is not an ISO 8601 time"
    for key in _TEXT_FIELDS:
        if entry.get(key) is not None and not isinstance(entry[key], str):
            return f"{key} {_show(entry[key])} is not a string"
    for key in _COUNT_FIELDS:
        value = entry.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_COUNT:
            return f"{key} {_show(value)} is not a count"
    gated = entry.get("gated")
    if gated is not None and not isinstance(gated, bool | str):
        return f"gated {_show(gated)} is neither a bool nor a string"
    private = entry.get("private")
    if private is not None and not isinstance(private, bool):
        return f"private {_show(private)} is not a bool"
    tags = entry.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        return f"tags {_show(tags)} is not a list of strings"
    return None


def entry_problem(entry: Any) -> str | None:
    """Why the crawl refuses this listing entry (naming the field), or None to take it."""
    if not isinstance(entry, dict):
        return f"entry {_show(entry)} is not a JSON object"
    if "id" not in entry:
        return "no id"
    problem = model_id_problem(entry["id"])
    if problem is not None:
        return f"id is not a Hub model id: {problem}"
    return _field_problem(entry)


def vet_entry(entry: Any) -> ListingReject | None:
    """A `ListingReject` for an entry the crawl must not take, else None."""
    problem = entry_problem(entry)
    return None if problem is None else ListingReject(raw_id_of(entry), problem)


def reject_rows(
    rejects: list[ListingReject], *, crawl_id: str, seen_at: Any, run_id: str | None
) -> list[dict[str, Any]]:
    """`crawl_rejects` rows of one crawl, one per refused entry."""
    return [
        {"crawl_id": crawl_id, "raw_id": r.raw_id, "reason": r.reason, "seen_at": seen_at,
         "dagster_run_id": run_id}
        for r in rejects
    ]
