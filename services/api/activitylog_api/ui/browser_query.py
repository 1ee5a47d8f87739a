"""The activity browser's URL: its form's values ⇄ the read's query (through the one parser,
`activitylog.domain.reads.params`), and links that change one part."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from activitylog.contract.taxonomy import CATEGORY_STYLE, LABEL_OF, TYPES_OF, Category
from activitylog.domain.reads import params
from activitylog.domain.reads.query import ActivityFilter, BadQuery, Ordering

BROWSER_PATH = "/admin/activity-logs"
EXPORT_PATH = "/admin/activity-logs/export.csv"
FORM_KEYS = (
    "search",
    "eventType",
    "category",
    "range",
    "dateFrom",
    "dateTo",
    "source",
    "lead",
    "createdBy",
)
# The column sort is part of the URL but not a filter (a sorted list still "has no filters").
# Its columns are the one sort vocabulary's (`sortBy`, `sortOrder`), which the form calls
# `sort` (time, event, lead: the vocabulary's aliases) and `dir`.
SORT_KEYS = ("sort", "dir")
# The API's names of a form field, read when the form's own is absent.
_OTHER_NAMES = {
    "category": "eventCategory",
    "sort": "sortBy",
    "dir": "sortOrder",
    "source": "sourcePrefix",
}
# The sort vocabulary's names of the form's columns (time is the default: blank).
_FORM_SORT = {"timestamp": "", "eventType": "event"}
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
class BrowserForm:
    """The filter form's values, the filter and order they make, and the first error."""

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
    for key, other in _OTHER_NAMES.items():
        form[key] = form[key] or (query.get(other) or "").strip()
    form["sort"] = _FORM_SORT.get(form["sort"], form["sort"])
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
) -> BrowserForm:
    """Read the browser's parameters; a bad value gives an error naming its field. Date
    presets and custom dates are days and times in `zone` (the admin's)."""
    form = form_values(query, repeated)
    try:
        flt = _filter(form, now or datetime.now(UTC), _zone(zone))
        ordering = params.ordering(
            form["sort"] or None,
            form["dir"] or None,
            sort_field="sort",
            order_field="dir",
            aliases=True,
        )
    except BadQuery as exc:
        return BrowserForm(form, error=str(exc))
    return BrowserForm(form, flt, ordering=ordering)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # a zone removed from tzdata since it was saved
        return ZoneInfo("UTC")


def _preset_range(span: str, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
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


def _window(
    form: dict[str, str], now: datetime, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """The range's [since, before) in the admin's zone (a custom one: its dates, checked by
    the one parser)."""
    span = form["range"]
    if span == "custom":
        return params.time_range(_local(form["dateFrom"], zone), _local(form["dateTo"], zone))
    return range_window(span, now, zone)


def range_window(
    span: str, now: datetime, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """A range of the When select but custom as [since, before) in `zone` (any time: none)."""
    if span in ("today", "yesterday", "month"):
        return _preset_range(span, now, zone)
    if span in _RANGE_SPAN:
        return now - _RANGE_SPAN[span], None
    if span:
        raise BadQuery(
            "range",
            f"unknown range {span!r}; use today, yesterday, month, 1h, 24h, 7d, 30d or custom",
        )
    return None, None


def _filter(form: dict[str, str], now: datetime, zone: ZoneInfo) -> ActivityFilter:
    since, before = _window(form, now, zone)
    values = {
        "search": form["search"],
        "eventType": form["eventType"],
        "category": form["category"],
        "lead": form["lead"],
        # The form's source box finds sources by their start (`n8n` is every workflow).
        "sourcePrefix": form["source"],
        "createdBy": form["createdBy"],
    }
    return params.activity_filter(values, window=(since, before))
