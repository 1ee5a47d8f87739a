"""The contract's time window and the one way every answer writes an instant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

# Every instant the contract accepts, as an event time or a query bound. PostgreSQL could
# hold more, but a year-1 or year-9999 instant shifted by a zone overflows Python's
# datetime, and `infinity` has no page to show it on; real activity lies well inside.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2100, 1, 1, tzinfo=UTC)
TIME_WINDOW_TEXT = "from 1970-01-01T00:00:00Z up to (not including) 2100-01-01T00:00:00Z"


def utc_in_window(value: datetime) -> datetime:
    """The instant as aware UTC (naive means UTC); ValueError outside the contract's window.

    Every entrance (events, query bounds, cursors) goes through here, so nothing accepted
    can overflow on the way to PostgreSQL or back.
    """
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_TIME <= utc < LATEST_TIME:
        raise ValueError(f"{value.isoformat()} is outside the accepted window, {TIME_WINDOW_TEXT}")
    return utc


@overload
def aware_timestamp(value: datetime) -> datetime: ...
@overload
def aware_timestamp(value: None) -> None: ...
def aware_timestamp(value: datetime | None) -> datetime | None:
    """A timestamptz as read, always aware: asyncpg reads PostgreSQL's ±infinity (possible in
    old rows) as naive datetime.max/min, which neither compare nor convert like the others."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`: the one form every answer, page and export writes."""
    if value is None:
        return None
    return aware_timestamp(value).astimezone(UTC).isoformat().replace("+00:00", "Z")
