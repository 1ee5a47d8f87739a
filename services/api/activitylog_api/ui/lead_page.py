"""/admin/leads/{id}: a lead's details and its timeline (day groups, threads, chips), the
lead context of the browser's rows, and the browser's lead suggestions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Response, Template

from activitylog.contract.taxonomy import CATEGORY_STYLE, Category
from activitylog.contract.times import aware_timestamp
from activitylog.storage import leads
from activitylog.storage.activity_log.counts import Count
from activitylog.storage.activity_log.filters import ActivityFilter, Ordering
from activitylog.storage.activity_log.queries import browse
from activitylog.use_cases.counters.totals import count_by_category, count_total
from activitylog_api import params
from activitylog_api.cursor import decode_cursor
from activitylog_api.errors import ApiError
from activitylog_api.paging import keyset_page
from activitylog_api.state import ApiServices
from activitylog_api.ui.activity import REFRESH_S, Chip, count_text
from activitylog_api.ui.guard import SESSION, page_context, user_zone, wants_partial
from activitylog_api.ui.present import EventView, event_view

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
class Row:
    event: EventView
    reply: bool = False  # shown indented under the message it answers


@dataclass(frozen=True, slots=True)
class Day:
    key: str
    title: str
    rows: list[Row]


def day_group(day: date, today: date) -> tuple[str, str]:
    """(key, heading) of a day: Today, Yesterday, This week, Last week, then its month."""
    if day == today:
        return "today", "Today"
    if day == today - timedelta(days=1):
        return "yesterday", "Yesterday"
    week_start = today - timedelta(days=today.weekday())
    if day >= week_start:
        return "this-week", "This week"
    if day >= week_start - timedelta(days=7):
        return "last-week", "Last week"
    return f"{day:%Y-%m}", f"{day:%B %Y}"


def threaded(events: list[EventView]) -> list[Row]:
    """Each reply right under the message it answers, when its metadata names that message
    (its event id or message id) and both are in the list; the rest keep their order."""
    by_ref: dict[str, EventView] = {}
    for event in events:
        by_ref[str(event.id)] = event
        if event.message_ref:
            by_ref.setdefault(event.message_ref, event)
    replies: dict[uuid.UUID, list[EventView]] = {}
    placed: set[uuid.UUID] = set()
    for event in events:
        parent = by_ref.get(event.reply_to) if event.reply_to else None
        if parent is not None and parent.id != event.id:
            replies.setdefault(parent.id, []).append(event)
            placed.add(event.id)
    rows: list[Row] = []

    def add(event: EventView, reply: bool, depth: int) -> None:
        rows.append(Row(event, reply))
        if depth < 8:  # metadata may claim a cycle; a thread is shown a few levels deep
            for child in reversed(replies.get(event.id, [])):  # oldest reply first
                add(child, True, depth + 1)

    for event in events:
        if event.id not in placed:
            add(event, False, 0)
    seen: set[uuid.UUID] = set()
    return [r for r in rows if not (r.event.id in seen or seen.add(r.event.id))]


def group_by_day(events: list[EventView], today: date, zone: ZoneInfo | None = None) -> list[Day]:
    """Consecutive rows of one group under one heading (the list is newest first; days in
    the admin's zone); a reply stays in its message's group."""
    zone = zone or ZoneInfo("UTC")
    days: list[Day] = []
    for row in threaded(events):
        if not row.reply or not days:
            key, title = day_group(row.event.timestamp.astimezone(zone).date(), today)
            if not days or days[-1].key != key:
                days.append(Day(key, title, []))
        days[-1].rows.append(row)
    return days


def _lead_view(row: Any) -> LeadView:
    full = f"{row['first_name'] or ''} {row['last_name'] or ''}".strip()
    return LeadView(
        id=row["id"],
        airtable_record_id=row["airtable_record_id"],
        client_id=row["client_id"],
        full_name=full,
        display_name=row["display_name"],
        email=row["email"],
        phone=row["phone"],
        status=row["status"],
        last_activity_at=aware_timestamp(row["last_activity_at"]),
        created_at=row["created_at"],
    )


def _zone(request: Request[Any, Any, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(user_zone(request))
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def more_text(total: Count, shown: int) -> str:
    """How many older events remain after `shown`: exact, or "N+" above the count cap."""
    remaining = max(total.value - shown, 0)
    return f"{remaining:,}+" if total.estimated else f"{remaining:,}"


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
        shown_before = max(int(request.query_params.get("shown") or 0), 0)
    except ValueError:
        shown_before = 0
    try:
        categories = params.categories("category", category_param)
    except ApiError:
        categories = ()
    cap = services.settings.api_count_cap
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
            shown_before = 0
        rows = await browse(conn, flt, after=after, limit=PAGE_SIZE + 1, with_lead=False)
        counts = None
        if not wants_partial(request):
            counts = await count_by_category(conn, replace(flt, categories=()), _CATEGORIES, cap)
            total = counts[categories[0]] if len(categories) == 1 else counts["all"]
            if len(categories) > 1:
                total = await count_total(conn, flt, cap)
        else:
            total = await count_total(conn, flt, cap)
    page = keyset_page(rows, PAGE_SIZE, Ordering().position)
    events = [event_view(r, lead.display_name) for r in page.rows]
    base = f"/admin/leads/{lead.id}"
    shown = shown_before + len(events)

    def link(**values: str) -> str:
        query = urlencode({k: v for k, v in values.items() if v})
        return f"{base}?{query}" if query else base

    cursor = page.next_cursor(_CURSOR_KIND)
    older_url = link(category=category_param, older=cursor, shown=str(shown)) if cursor else None
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
    zone = _zone(request)
    context = page_context(
        request,
        "activity",
        lead=lead,
        days=group_by_day(events, datetime.now(UTC).astimezone(zone).date(), zone),
        chips=chips,
        older_url=older_url,
        older_count=more_text(total, shown) if cursor else "0",
        first_page=after is None,
        category=chosen,
        refresh_s=REFRESH_S,
        live_url=link(category=category_param),
        zone=zone.key,
    )
    name = "_timeline.html" if wants_partial(request) else "lead.html"
    return Template(template_name=name, context=context, headers={"Cache-Control": "no-store"})


@get("/admin/leads/{reference:str}/context", guards=[SESSION], include_in_schema=False)
async def lead_context(
    request: Request[Any, Any, Any],
    services: NamedDependency[ApiServices],
    reference: FromPath[str],
) -> Template:
    """Beside a browser row: the lead's name, status, last activity and events by category."""
    async with services.pool.acquire() as conn:
        row = await leads.find_lead(conn, reference.strip())
        if row is None:
            raise NotFoundException(f"There is no lead {reference!r}.")
        lead = _lead_view(row)
        counts = await count_by_category(
            conn,
            ActivityFilter(lead_id=lead.id),
            _CATEGORIES,
            services.settings.api_count_cap,
            budget_ms=services.settings.api_count_budget_ms,
        )
    by_category = [
        (CATEGORY_STYLE[c], count_text(counts[c.value])) for c in Category if counts[c.value].value
    ]
    context = page_context(
        request, "activity", lead=lead, total=count_text(counts["all"]), by_category=by_category
    )
    return Template(
        template_name="_lead_context.html", context=context, headers={"Cache-Control": "no-store"}
    )


SUGGESTIONS = 8


@get("/admin/lead-suggestions", guards=[SESSION], include_in_schema=False)
async def lead_suggestions(
    request: Request[Any, Any, Any], services: NamedDependency[ApiServices]
) -> Response[list[dict[str, str]]]:
    """The browser's lead box: leads whose name, email, phone or id match `q` (2+ chars)."""
    text = (request.query_params.get("q") or "").strip()[:200]
    found: list[dict[str, str]] = []
    if len(text) >= 2 and "\x00" not in text:
        async with services.pool.acquire() as conn:
            rows = await leads.suggest(conn, text, SUGGESTIONS)
        for r in rows:
            name = r["display_name"]
            extra = " · ".join(v for v in (r["email"], r["phone"]) if v and v != name)
            found.append({"id": str(r["id"]), "label": f"{name} · {extra}" if extra else name})
    return Response(found, headers={"Cache-Control": "no-store"})
