"""The one parser of the reads' query parameters (the JSON API's and the admin UI's alike):
each value checked under its public name, a bad one a `BadQuery` naming it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

from activitylog.contract.references import LeadReference, is_airtable_id, parse_lead_reference
from activitylog.contract.taxonomy import Category, EventType
from activitylog.contract.times import utc_in_window
from activitylog.domain.reads.query import (
    SORT_ALIASES,
    SORT_NAMES,
    ActivityFilter,
    BadQuery,
    Ordering,
    SortKey,
)

MAX_TEXT_CHARS = 200
SEARCH_MAX_CHARS = 200
# PostgreSQL bigint: a larger id cannot exist, and asyncpg refuses to send it.
MAX_BIGINT = 2**63 - 1
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")
VALID_CATEGORIES = [c.value for c in Category]
VALID_TYPES = [t.value for t in EventType]
# The filter's parameters, by their public names (`category` and `eventCategory` are one
# filter; `lead` takes a UUID or an Airtable id, as the admin UI's box does).
FILTER_PARAMETERS = (
    "search",
    "eventType",
    "category",
    "eventCategory",
    "leadId",
    "leadAirtableId",
    "lead",
    "clientId",
    "source",
    "sourcePrefix",
    "executionId",
    "createdBy",
    "dateFrom",
    "dateTo",
)


def text(field: str, value: str | None, max_chars: int = MAX_TEXT_CHARS) -> str | None:
    """A free-text parameter, stripped; empty means absent."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if "\x00" in value:
        raise BadQuery(field, "may not contain NUL (\\u0000) characters")
    if len(value) > max_chars:
        raise BadQuery(field, f"is {len(value)} characters long; the limit is {max_chars}")
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
        raise BadQuery(
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
        raise BadQuery(field, f"{raw!r} is not a UUID") from None


def airtable_id(field: str, value: str | None) -> str | None:
    raw = text(field, value)
    if raw is not None and not is_airtable_id(raw):
        raise BadQuery(field, f"{raw!r} is not an Airtable record id (rec…)")
    return raw


def lead_reference(field: str, value: str | None) -> LeadReference:
    """A lead named by its UUID or its Airtable record id (empty: none)."""
    raw = text(field, value)
    if raw is None:
        return LeadReference()
    parsed = parse_lead_reference(raw)
    if parsed is None:
        raise BadQuery(
            field,
            f"{raw!r} is neither a lead UUID nor an Airtable id (rec…); "
            "to find a lead by name, email or phone use the search box",
        )
    return parsed


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
        raise BadQuery(
            field, f"{raw!r} is not an ISO-8601 date or date-time (e.g. 2026-03-01)"
        ) from None
    try:
        # The event contract's window: a bound outside it matches nothing anyway, and near
        # year 1 or 9999 the arithmetic below (or asyncpg's conversion) would overflow.
        parsed = utc_in_window(parsed)
    except ValueError as exc:
        raise BadQuery(field, str(exc)) from None
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
        raise BadQuery("dateFrom", "dateFrom is after dateTo")
    return since, before


def ordering(
    sort_by: str | None,
    sort_order: str | None,
    *,
    sort_field: str = "sortBy",
    order_field: str = "sortOrder",
    aliases: bool = False,
) -> Ordering:
    """`sortBy` (timestamp|eventType|eventCategory|lead; with `aliases`, also the admin UI's
    older `time` and `event`) and `sortOrder` (desc|asc, any case); None: newest first."""
    name = SortKey.TIMESTAMP.value if sort_by is None else sort_by
    known = {**{n: SortKey(n) for n in SORT_NAMES}, **(SORT_ALIASES if aliases else {})}
    if name not in known:
        choices = ", ".join(SORT_NAMES)
        raise BadQuery(sort_field, f"must be one of {choices}", validSortBy=SORT_NAMES)
    order = "desc" if sort_order is None else sort_order.lower()
    if order not in ("asc", "desc"):
        raise BadQuery(order_field, "must be asc or desc")
    return Ordering(known[name], order == "desc")


def _categories(values: Mapping[str, str | None]) -> tuple[str, ...]:
    """`category` and its other name `eventCategory`: both name the categories wanted."""
    chosen = categories("category", values.get("category"))
    chosen += categories("eventCategory", values.get("eventCategory"))
    return tuple(dict.fromkeys(chosen))


def activity_filter(
    values: Mapping[str, str | None],
    *,
    window: tuple[datetime | None, datetime | None] | None = None,
) -> ActivityFilter:
    """The filter `values` (FILTER_PARAMETERS by name; absent or blank: any) ask for;
    `window`, [since, before), stands for dateFrom/dateTo when the caller worked the range
    out itself (the admin UI's presets, in the admin's zone)."""
    if window is None:
        window = time_range(values.get("dateFrom"), values.get("dateTo"))
    since, before = window
    reference = lead_reference("lead", values.get("lead"))
    return ActivityFilter(
        lead_id=uuid_value("leadId", values.get("leadId")) or reference.lead_id,
        lead_airtable_id=(
            airtable_id("leadAirtableId", values.get("leadAirtableId")) or reference.airtable_id
        ),
        client_id=uuid_value("clientId", values.get("clientId")),
        categories=_categories(values),
        event_types=event_types("eventType", values.get("eventType")),
        source=text("source", values.get("source")),
        source_prefix=text("sourcePrefix", values.get("sourcePrefix")),
        execution_id=text("executionId", values.get("executionId")),
        created_by=uuid_value("createdBy", values.get("createdBy")),
        since=since,
        before=before,
        search=text("search", values.get("search"), SEARCH_MAX_CHARS),
    )
