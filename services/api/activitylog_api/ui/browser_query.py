"""The activity browser's URL: its query parameters ⇄ a filter, and links that change one part."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from activitylog.contract.references import LeadReference, parse_lead_reference
from activitylog.contract.taxonomy import CATEGORY_STYLE, LABEL_OF, TYPES_OF, Category
from activitylog.storage.activity_log.queries import ActivityFilter
from activitylog_api import params
from activitylog_api.errors import ApiError, bad_request

BROWSER_PATH = "/admin/activity-logs"
EXPORT_PATH = "/admin/activity-logs/export.csv"
FORM_KEYS = ("search", "eventType", "category", "range", "dateFrom", "dateTo", "source", "lead")
RANGES: tuple[tuple[str, str], ...] = (
    ("", "Any time"),
    ("1h", "Last hour"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("custom", "Custom (UTC)"),
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


def parse(query: Mapping[str, str], now: datetime | None = None) -> BrowserQuery:
    """Read the browser's parameters; a bad value gives an error naming its field."""
    form = {key: (query.get(key) or "").strip() for key in FORM_KEYS}
    try:
        return BrowserQuery(form, _filter(form, now or datetime.now(UTC)))
    except ApiError as exc:
        return BrowserQuery(form, error=str(exc.detail))


def _filter(form: dict[str, str], now: datetime) -> ActivityFilter:
    since: datetime | None = None
    before: datetime | None = None
    span = form["range"]
    if span == "custom":
        since, before = params.time_range(form["dateFrom"], form["dateTo"])
    elif span in _RANGE_SPAN:
        since = now - _RANGE_SPAN[span]
    elif span:
        raise bad_request("range", f"unknown range {span!r}; use 1h, 24h, 7d, 30d or custom")
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
        source=params.text("source", form["source"]),
        since=since,
        before=before,
        search=params.text("search", form["search"]),
    )
