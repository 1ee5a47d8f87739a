"""The activity browser's URL: its query parameters ⇄ a filter, and links that change one part."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from activitylog.contract.references import LeadReference, parse_lead_reference
from activitylog.contract.taxonomy import CATEGORY_STYLE, LABEL_OF, TYPES_OF, Category
from activitylog.storage.activity_log.filters import ActivityFilter, Ordering, SortKey
from activitylog_api import params
from activitylog_api.errors import ApiError, bad_request

BROWSER_PATH = "/admin/activity-logs"
EXPORT_PATH = "/admin/activity-logs/export.csv"
FORM_KEYS = ("search", "eventType", "category", "range", "dateFrom", "dateTo", "source", "lead")
# The column sort is part of the URL but not a filter (a sorted list still "has no filters").
SORT_KEYS = ("sort", "dir")
# The sortable columns: time, event (its type) and lead.
SORTS = {"time": SortKey.TIMESTAMP, "event": SortKey.EVENT_TYPE, "lead": SortKey.LEAD}
RANGES: tuple[tuple[str, str], ...] = (
    ("", "Any time"),
    ("today", "Today"),
    ("yesterday", "Yesterday"),
    ("month", "This month"),
    ("1h", "Last hour"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("custom", "Custom"),
)
_RANGE_SPAN = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
TYPE_GROUPS = [
    (
        category.value,
        CATEGORY_STYLE[category],
        [(t.value, LABEL_OF[t]) for t in TYPES_OF[category]],
    )
    for category in Category
]


@dataclass(frozen=True, slots=True)
class BrowserQuery:
    """The filter form's values, the filter they make, and the first error, if any."""

    form: dict[str, str]
    filter: ActivityFilter = field(default_factory=ActivityFilter)
    error: str | None = None
    ordering: Ordering = field(default_factory=Ordering)

    @property
    def sort(self) -> str:
        return self.form.get("sort") or "time"

    @property
    def descending(self) -> bool:
        return self.form.get("dir") != "asc"

    def sort_url(self, column: str) -> str:
        """The list sorted by `column`: time newest first, event and lead A→Z; on the column
        already sorted, the other direction."""
        first = "desc" if column == "time" else "asc"
        current = "desc" if self.descending else "asc"
        direction = ("asc" if current == "desc" else "desc") if column == self.sort else first
        return self.url(
            sort="" if column == "time" else column,
            dir="" if direction == "desc" else "asc",
        )

    @property
    def event_types(self) -> tuple[str, ...]:
        return self.filter.event_types

    @property
    def has_filters(self) -> bool:
        return any(self.form.get(k) for k in FORM_KEYS)

    def query(self, **changes: str) -> str:
        """The filter as a query string (empty values left out), with `changes` applied."""
        values = {**self.form, **changes}
        if values.get("range") != "custom":
            values.pop("dateFrom", None)
            values.pop("dateTo", None)
        return urlencode({k: v for k, v in values.items() if v})

    def url(self, path: str = BROWSER_PATH, **changes: str) -> str:
        query = self.query(**changes)
        return f"{path}?{query}" if query else path


def form_values(
    query: Mapping[str, str], repeated: Mapping[str, list[str]] | None = None
) -> dict[str, str]:
    """The form's values; a key given several times (the event type checkboxes) is joined
    with commas, the way the API takes several values."""
    form = {key: (query.get(key) or "").strip() for key in (*FORM_KEYS, *SORT_KEYS)}
    for key, values in (repeated or {}).items():
        chosen = [v.strip() for v in values if v and v.strip()]
        if key in form and len(chosen) > 1:
            form[key] = ",".join(chosen)
    return form


def parse(
    query: Mapping[str, str],
    now: datetime | None = None,
    *,
    zone: str = "UTC",
    repeated: Mapping[str, list[str]] | None = None,
) -> BrowserQuery:
    """Read the browser's parameters; a bad value gives an error naming its field. Date
    presets and custom dates are days and times in `zone` (the admin's)."""
    form = form_values(query, repeated)
    try:
        flt = _filter(form, now or datetime.now(UTC), _zone(zone))
        return BrowserQuery(form, flt, ordering=_ordering(form))
    except ApiError as exc:
        return BrowserQuery(form, error=str(exc.detail))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # a zone removed from tzdata since it was saved
        return ZoneInfo("UTC")


def _ordering(form: dict[str, str]) -> Ordering:
    sort = form["sort"] or "time"
    if sort not in SORTS:
        raise bad_request("sort", f"unknown column {sort!r}; use {', '.join(SORTS)}")
    if form["dir"] not in ("", "asc", "desc"):
        raise bad_request("dir", "must be asc or desc")
    return Ordering(SORTS[sort], form["dir"] != "asc")


def preset_range(span: str, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Today, yesterday or this month as [since, before) in `zone` (midnights there)."""
    today = now.astimezone(zone).date()

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(), zone).astimezone(UTC)

    if span == "today":
        return midnight(today), midnight(today + timedelta(days=1))
    if span == "yesterday":
        return midnight(today - timedelta(days=1)), midnight(today)
    first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return midnight(first), midnight(following)


def _local(value: str, zone: ZoneInfo) -> str:
    """A datetime-local value without an offset is a time in the admin's zone."""
    if not value or "T" not in value or value.endswith("Z") or "+" in value[10:]:
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value  # params.time_range names the field
    if parsed.tzinfo is not None:
        return value
    return parsed.replace(tzinfo=zone).isoformat()


def _filter(form: dict[str, str], now: datetime, zone: ZoneInfo) -> ActivityFilter:
    since: datetime | None = None
    before: datetime | None = None
    span = form["range"]
    if span == "custom":
        since, before = params.time_range(
            _local(form["dateFrom"], zone), _local(form["dateTo"], zone)
        )
    elif span in ("today", "yesterday", "month"):
        since, before = preset_range(span, now, zone)
    elif span in _RANGE_SPAN:
        since = now - _RANGE_SPAN[span]
    elif span:
        raise bad_request(
            "range",
            f"unknown range {span!r}; use today, yesterday, month, 1h, 24h, 7d, 30d or custom",
        )
    reference = LeadReference()
    lead = params.text("lead", form["lead"])
    if lead is not None:
        parsed = parse_lead_reference(lead)
        if parsed is None:
            raise bad_request(
                "lead",
                f"{lead!r} is neither a lead UUID nor an Airtable id (rec…); "
                "to find a lead by name, email or phone use the search box",
            )
        reference = parsed
    return ActivityFilter(
        lead_id=reference.lead_id,
        lead_airtable_id=reference.airtable_id,
        categories=params.categories("category", form["category"]),
        event_types=params.event_types("eventType", form["eventType"]),
        source_prefix=params.text("source", form["source"]),
        since=since,
        before=before,
        search=params.text("search", form["search"]),
    )
