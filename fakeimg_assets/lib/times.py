"""Times as the warehouse stores them: timezone-aware UTC, microsecond precision."""

from __future__ import annotations

import datetime as dt

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")  # the column type of every timestamp in the warehouse


def utcnow() -> dt.datetime:
    """Timezone-aware now, microsecond precision as stored."""
    return dt.datetime.now(dt.UTC)


def parse_time(value: object) -> dt.datetime | None:
    """Hub timestamps (ISO strings or datetimes) as aware UTC datetimes."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    text = str(value).replace("Z", "+00:00")
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
