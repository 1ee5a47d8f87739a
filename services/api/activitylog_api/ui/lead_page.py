"""/admin/leads/{id}: a lead's details and its timeline (day groups, threads, chips), the
lead context of the browser's rows, and the browser's lead suggestions."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Response, Template

from activitylog.contract.taxonomy import CATEGORY_STYLE, Category
from activitylog.domain.reads import params
from activitylog.domain.reads.query import ActivityFilter, BadQuery, CategoryCounts, Count
from activitylog.storage import leads
from activitylog.use_cases.reads.counting import Counting, ReadBudget
from activitylog.use_cases.reads.timeline import (
    Timeline,
    TimelineQuery,
    lead_overview,
    read_timeline,
)
from activitylog_api.state import ApiServices
from activitylog_api.ui.activity import REFRESH_S, Chip, count_text
from activitylog_api.ui.guard import SESSION, page_context, user_zone, wants_partial
from activitylog_api.ui.present import event_view

PAGE_SIZE = 50


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


def _zone(request: Request[Any, Any, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(user_zone(request))
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def more_text(total: Count, shown: int) -> str:
    """How many older events remain after `shown`: exact, or "N+" above the count cap."""
    remaining = max(total.value - shown, 0)
    return f"{remaining:,}+" if total.estimated else f"{remaining:,}"


def _shown_before(request: Request[Any, Any, Any]) -> int:
    """How many events the page already shows above the ones asked for ("load older")."""
    try:
        return max(int(request.query_params.get("shown") or 0), 0)
    except ValueError:
        return 0


def _categories(value: str) -> tuple[str, ...]:
    try:
        return params.categories("category", value)
    except BadQuery:
        return ()


async def _timeline(
    request: Request[Any, Any, Any], services: ApiServices, query: TimelineQuery
) -> tuple[Timeline | None, bool]:
    """The page of the lead's timeline asked for, and whether it continues after a cursor
    (one that is not ours starts over at the newest events)."""
    counting = Counting.TOTAL if wants_partial(request) else Counting.BY_CATEGORY
    budget = ReadBudget.from_settings(services.settings)
    try:
        found = await read_timeline(services.pool, query, budget, counting=counting)
    except BadQuery:
        query = replace(query, cursor=None)
        found = await read_timeline(services.pool, query, budget, counting=counting)
    return found, query.cursor is not None


def _chips(
    counts: CategoryCounts | None, link: Any, chosen: str, categories: tuple[str, ...]
) -> list[Chip]:
    if counts is None:
        return []
    chips = [Chip("All", link(), count_text(counts.all), not categories)]
    for category in Category:
        chips.append(
            Chip(
                CATEGORY_STYLE[category].label,
                link(category=category.value),
                count_text(counts.by_category[category.value]),
                chosen == category.value,
                CATEGORY_STYLE[category],
            )
        )
    return chips


@get("/admin/leads/{reference:str}", guards=[SESSION], include_in_schema=False)
async def lead_page(
    request: Request[Any, Any, Any],
    services: NamedDependency[ApiServices],
    reference: FromPath[str],
) -> Template:
    reference = reference.strip()
    category_param = request.query_params.get("category") or ""
    older = request.query_params.get("older") or None
    categories = _categories(category_param)
    flt = ActivityFilter(categories=categories)
    query = TimelineQuery(reference, flt, older, limit=PAGE_SIZE)
    found, continued = await _timeline(request, services, query)
    if found is None:
        raise NotFoundException(f"There is no lead {reference!r}.")
    lead = found.lead
    events = [event_view(e, lead.display_name) for e in found.events]
    base = f"/admin/leads/{lead.id}"
    shown = (_shown_before(request) if continued else 0) + len(events)

    def link(**values: str) -> str:
        query = urlencode({k: v for k, v in values.items() if v})
        return f"{base}?{query}" if query else base

    cursor = found.next_cursor
    older_url = link(category=category_param, older=cursor, shown=str(shown)) if cursor else None
    chosen = categories[0] if len(categories) == 1 else ""
    context = page_context(
        request,
        "activity",
        lead=lead,
        # Newest first; the template groups and threads them (event_display.thread_days).
        events=events,
        chips=_chips(found.categories, link, chosen, categories),
        older_url=older_url,
        older_count=more_text(found.total or Count(0, False), shown) if cursor else "0",
        first_page=not continued,
        category=chosen,
        refresh_s=REFRESH_S,
        live_url=link(category=category_param),
        zone=_zone(request).key,
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
    budget = ReadBudget.from_settings(services.settings)
    found = await lead_overview(services.pool, reference, budget)
    if found is None:
        raise NotFoundException(f"There is no lead {reference!r}.")
    counts = found.counts
    by_category = [
        (CATEGORY_STYLE[c], count_text(counts.by_category[c.value]))
        for c in Category
        if counts.by_category[c.value].value
    ]
    context = page_context(
        request,
        "activity",
        lead=found.lead,
        total=count_text(counts.all),
        by_category=by_category,
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
