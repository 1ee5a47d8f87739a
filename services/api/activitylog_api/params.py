"""Query-parameter parsing shared by the read routes; each failure is a 400 naming its field."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta

from activitylog.contract.references import is_airtable_id
from activitylog.contract.taxonomy import Category, EventType
from activitylog.contract.times import utc_in_window
from activitylog_api.errors import bad_request

MAX_TEXT_CHARS = 200
# PostgreSQL bigint: a larger id cannot exist, and asyncpg refuses to send it.
MAX_BIGINT = 2**63 - 1
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")
VALID_CATEGORIES = [c.value for c in Category]
VALID_TYPES = [t.value for t in EventType]


def text(field: str, value: str | None, max_chars: int = MAX_TEXT_CHARS) -> str | None:
    """A free-text parameter, stripped; empty means absent."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if "\x00" in value:
        raise bad_request(field, "may not contain NUL (\\u0000) characters")
    if len(value) > max_chars:
        raise bad_request(field, f"is {len(value)} characters long; the limit is {max_chars}")
    return value


def _choices(
    field: str, value: str | None, valid: list[str], noun: str, body_key: str
) -> tuple[str, ...]:
    raw = text(field, value, 2_000)
    if raw is None:
        return ()
    chosen = tuple(dict.fromkeys(part.strip().upper() for part in raw.split(",") if part.strip()))
    unknown = [c for c in chosen if c not in valid]
    if unknown:
        raise bad_request(
            field,
            f"unknown {noun} {', '.join(unknown)}; valid: {', '.join(valid)}",
            **{body_key: valid},
        )
    return chosen


def categories(field: str, value: str | None) -> tuple[str, ...]:
    """One category or several separated by commas."""
    return _choices(field, value, VALID_CATEGORIES, "category", "validCategories")


def event_types(field: str, value: str | None) -> tuple[str, ...]:
    """One event type or several separated by commas."""
    return _choices(field, value, VALID_TYPES, "type", "validTypes")


def uuid_value(field: str, value: str | None) -> uuid.UUID | None:
    raw = text(field, value)
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise bad_request(field, f"{raw!r} is not a UUID") from None


def airtable_id(field: str, value: str | None) -> str | None:
    raw = text(field, value)
    if raw is not None and not is_airtable_id(raw):
        raise bad_request(field, f"{raw!r} is not an Airtable record id (rec…)")
    return raw


def bigint_id(text: str) -> int | None:
    """A row id written in ASCII digits that fits a bigint (not `²`, not 20 digits), or None."""
    if not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= MAX_BIGINT else None


def _instant(field: str, raw: str, *, end_of_day: bool) -> datetime:
    try:
        if len(raw) == 10:
            parsed = datetime.combine(date.fromisoformat(raw), time(), tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(raw.replace(" ", "+") if "T" in raw else raw)
    except ValueError:
        raise bad_request(
            field, f"{raw!r} is not an ISO-8601 date or date-time (e.g. 2026-03-01)"
        ) from None
    try:
        # The event contract's window: a bound outside it matches nothing anyway, and near
        # year 1 or 9999 the arithmetic below (or asyncpg's conversion) would overflow.
        parsed = utc_in_window(parsed)
    except ValueError as exc:
        raise bad_request(field, str(exc)) from None
    if not end_of_day:
        return parsed
    # A bare date covers its whole day; an explicit instant is an inclusive bound; the
    # query's upper bound is exclusive either way.
    return parsed + (timedelta(days=1) if len(raw) == 10 else timedelta(microseconds=1))


def time_range(
    date_from: str | None, date_to: str | None
) -> tuple[datetime | None, datetime | None]:
    """`dateFrom`/`dateTo` (inclusive; a bare date covers its whole UTC day) → [since, before)."""
    raw_from = text("dateFrom", date_from, 64)
    raw_to = text("dateTo", date_to, 64)
    since = _instant("dateFrom", raw_from, end_of_day=False) if raw_from else None
    before = _instant("dateTo", raw_to, end_of_day=True) if raw_to else None
    if since is not None and before is not None and since >= before:
        raise bad_request("dateFrom", "dateFrom is after dateTo")
    return since, before
