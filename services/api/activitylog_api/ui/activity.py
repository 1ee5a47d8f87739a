"""/admin/activity-logs: the searchable, filterable, live activity browser."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Template

from activitylog.contract.taxonomy import CATEGORY_STYLE, Category, CategoryStyle
from activitylog.counters.totals import count_total
from activitylog.storage.activity_log.queries import (
    ActivityFilter,
    Count,
    Ordering,
    browse,
)
from activitylog_api.cursor import decode_cursor, encode_cursor
from activitylog_api.errors import ApiError
from activitylog_api.paging import keyset_page
from activitylog_api.state import ApiServices
from activitylog_api.ui import browser_query
from activitylog_api.ui.browser_query import BrowserQuery
from activitylog_api.ui.guard import SESSION, page_context, wants_partial
from activitylog_api.ui.present import EventView, event_view

PAGE_SIZE = 50
REFRESH_S = 30
_CURSOR_KIND = "ui-browse"


@dataclass(frozen=True, slots=True)
class Chip:
    """A category filter link with its count."""

    label: str
    url: str
    count: str | None
    active: bool
    style: CategoryStyle | None = None


def count_text(count: Count | None) -> str | None:
    if count is None:
        return None
    return f"{count.value:,}+" if count.estimated else f"{count.value:,}"


@dataclass(frozen=True, slots=True)
class Page:
    items: list[EventView]
    older: str | None  # cursor of the next older page
    newer: str | None  # cursor of the next newer page


async def read_page(
    conn: Any,
    flt: ActivityFilter,
    *,
    older: str | None,
    newer: str | None,
    budget_ms: int | None = None,
) -> Page:
    """One page of 50, newest first; `older`/`newer` continue from a previous page's edge."""
    cursor = newer or older
    after = decode_cursor(cursor, _CURSOR_KIND, (datetime, uuid.UUID)) if cursor else None
    # Newer pages are read oldest first from their edge, then shown newest first.
    ordering = Ordering(descending=not newer)
    fetched = await browse(
        conn, flt, ordering=ordering, after=after, limit=PAGE_SIZE + 1, budget_ms=budget_ms
    )
    page = keyset_page(fetched, PAGE_SIZE, ordering.position)
    onward = page.next_cursor(_CURSOR_KIND)
    back = (
        encode_cursor(_CURSOR_KIND, ordering.position(page.rows[0]))
        if after is not None and page.rows
        else None
    )
    if newer:
        return Page([event_view(r) for r in reversed(page.rows)], older=back, newer=onward)
    return Page([event_view(r) for r in page.rows], older=onward, newer=back)


def category_chips(query: BrowserQuery) -> list[Chip]:
    """One link per category (no counts: seven capped counts under a broad search cost
    about a second at a million events, the one total count ~50 ms)."""
    chosen = query.form["category"].upper()
    chips = [Chip("All", query.url(category=""), None, not chosen)]
    for category in Category:
        chips.append(
            Chip(
                CATEGORY_STYLE[category].label,
                query.url(category=category.value),
                None,
                chosen == category.value,
                CATEGORY_STYLE[category],
            )
        )
    return chips


@get(browser_query.BROWSER_PATH, guards=[SESSION], include_in_schema=False)
async def activity_logs(
    request: Request[Any, Any, Any], services: NamedDependency[ApiServices]
) -> Template:
    query = browser_query.parse(request.query_params)
    older = request.query_params.get("older") or None
    newer = request.query_params.get("newer") or None
    values: dict[str, Any] = {
        "f": query.form,
        "type_groups": browser_query.TYPE_GROUPS,
        "ranges": browser_query.RANGES,
        "refresh_s": REFRESH_S,
        "count_cap": services.settings.api_count_cap,
        "export_url": query.url(browser_query.EXPORT_PATH),
        "filter_error": query.error,
        "has_filters": query.has_filters,
        "live": not older and not newer,
        "items": [],
        "chips": [],
        "count": Count(0, False),
        "older_url": None,
        "newer_url": None,
    }
    status = 200
    if query.error is None:
        try:
            async with services.pool.acquire() as conn:
                settings = services.settings
                page = await read_page(
                    conn,
                    query.filter,
                    older=older,
                    newer=newer,
                    budget_ms=settings.api_search_budget_ms,
                )
                count = await count_total(
                    conn,
                    query.filter,
                    settings.api_count_cap,
                    budget_ms=settings.api_count_budget_ms,
                )
        except ApiError as exc:  # a cursor that is not ours
            values["filter_error"] = str(exc.detail)
            status = 400
        else:
            values.update(
                items=page.items,
                chips=category_chips(query),
                count=count,
                older_url=query.url(older=page.older) if page.older else None,
                newer_url=query.url(newer=page.newer) if page.newer else None,
            )
    else:
        status = 400
    context = page_context(request, "activity", **values)
    name = "_activity_results.html" if wants_partial(request) else "activity_logs.html"
    return Template(
        template_name=name,
        context=context,
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )
