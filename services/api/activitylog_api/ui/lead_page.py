"""/admin/leads/{id}: a lead's details and its timeline, by day, with category chips."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from activitylog.contract.taxonomy import CATEGORY_STYLE, Category
from activitylog.contract.times import aware_timestamp
from activitylog.counters.totals import count_by_category
from activitylog.storage import leads
from activitylog.storage.activity_log.queries import (
    ActivityFilter,
    Ordering,
    browse,
)
from activitylog_api import params
from activitylog_api.cursor import decode_cursor
from activitylog_api.errors import ApiError
from activitylog_api.paging import keyset_page
from activitylog_api.state import ApiServices
from activitylog_api.ui.activity import Chip, count_text
from activitylog_api.ui.guard import SESSION, page_context, wants_partial
from activitylog_api.ui.present import EventView, event_view, lead_display_name

PAGE_SIZE = 50
_CURSOR_KIND = "ui-timeline"
_CATEGORIES = [c.value for c in Category]


@dataclass(frozen=True, slots=True)
class LeadView:
    id: uuid.UUID
    airtable_record_id: str | None
    client_id: uuid.UUID | None
    full_name: str
    display_name: str
    email: str | None
    phone: str | None
    status: str | None
    last_activity_at: datetime | None
    created_at: datetime

    @property
    def is_stub(self) -> bool:
        return not self.full_name and not self.email


@dataclass(frozen=True, slots=True)
class Day:
    key: str
    title: str
    events: list[EventView]


def day_title(day: date, today: date) -> str:
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    return f"{day:%A}, {day.day} {day:%B %Y}"


def group_by_day(events: list[EventView], today: date) -> list[Day]:
    """Consecutive events of one UTC day under one heading (the list is newest first)."""
    days: list[Day] = []
    for event in events:
        day = event.timestamp.astimezone(UTC).date()
        if not days or days[-1].key != day.isoformat():
            days.append(Day(day.isoformat(), day_title(day, today), []))
        days[-1].events.append(event)
    return days


def _lead_view(row: Any) -> LeadView:
    full = f"{row['first_name'] or ''} {row['last_name'] or ''}".strip()
    return LeadView(
        id=row["id"],
        airtable_record_id=row["airtable_record_id"],
        client_id=row["client_id"],
        full_name=full,
        display_name=lead_display_name(
            row["first_name"], row["last_name"], row["email"], row["airtable_record_id"]
        ),
        email=row["email"],
        phone=row["phone"],
        status=row["status"],
        last_activity_at=aware_timestamp(row["last_activity_at"]),
        created_at=row["created_at"],
    )


@get("/admin/leads/{reference:str}", guards=[SESSION], include_in_schema=False)
async def lead_page(
    request: Request[Any, Any, Any],
    services: NamedDependency[ApiServices],
    reference: FromPath[str],
) -> Template:
    reference = reference.strip()
    category_param = request.query_params.get("category") or ""
    older = request.query_params.get("older") or None
    try:
        categories = params.categories("category", category_param)
    except ApiError:
        categories = ()
    async with services.pool.acquire() as conn:
        row = await leads.find_lead(conn, reference)
        if row is None:
            raise NotFoundException(f"There is no lead {reference!r}.")
        lead = _lead_view(row)
        flt = ActivityFilter(lead_id=lead.id, categories=categories)
        try:
            after = decode_cursor(older, _CURSOR_KIND, (datetime, uuid.UUID)) if older else None
        except ApiError:
            after = None
        rows = await browse(conn, flt, after=after, limit=PAGE_SIZE + 1, with_lead=False)
        counts = None
        if not wants_partial(request):
            counts = await count_by_category(
                conn, replace(flt, categories=()), _CATEGORIES, services.settings.api_count_cap
            )
    page = keyset_page(rows, PAGE_SIZE, Ordering().position)
    events = [event_view(r, lead.display_name) for r in page.rows]
    base = f"/admin/leads/{lead.id}"

    def link(**values: str) -> str:
        query = urlencode({k: v for k, v in values.items() if v})
        return f"{base}?{query}" if query else base

    cursor = page.next_cursor(_CURSOR_KIND)
    older_url = link(category=category_param, older=cursor) if cursor else None
    chosen = categories[0] if len(categories) == 1 else ""
    chips: list[Chip] = []
    if counts is not None:
        chips.append(Chip("All", link(), count_text(counts["all"]), not categories))
        for category in Category:
            chips.append(
                Chip(
                    CATEGORY_STYLE[category].label,
                    link(category=category.value),
                    count_text(counts[category.value]),
                    chosen == category.value,
                    CATEGORY_STYLE[category],
                )
            )
    context = page_context(
        request,
        "activity",
        lead=lead,
        days=group_by_day(events, datetime.now(UTC).date()),
        chips=chips,
        older_url=older_url,
        first_page=after is None,
        category=chosen,
    )
    name = "_timeline.html" if wants_partial(request) else "lead.html"
    return Template(template_name=name, context=context, headers={"Cache-Control": "no-store"})
