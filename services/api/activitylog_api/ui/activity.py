"""/admin/activity-logs: the searchable, filterable, live activity browser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Template

from activitylog.contract.taxonomy import CATEGORY_STYLE, Category, CategoryStyle
from activitylog.storage.activity_log.counts import Count
from activitylog.storage.activity_log.filters import ActivityFilter, Ordering, SortKey
from activitylog.storage.activity_log.queries import browse
from activitylog.use_cases.counters.totals import count_by_category
from activitylog_api.cursor import decode_cursor, encode_cursor
from activitylog_api.errors import ApiError
from activitylog_api.paging import keyset_page
from activitylog_api.state import ApiServices
from activitylog_api.ui import browser_query
from activitylog_api.ui.browser_query import BrowserQuery
from activitylog_api.ui.guard import SESSION, page_context, user_zone, wants_partial
from activitylog_api.ui.highlight import search_terms
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
    ordering: Ordering | None = None,
    budget_ms: int | None = None,
) -> Page:
    """One page of 50 in `ordering` (newest first by default); `older`/`newer` continue from
    a previous page's edge. Only the time order pages back to newer rows."""
    ordering = ordering or Ordering()
    by_time = ordering.key == SortKey.TIMESTAMP
    newer = newer if by_time else None
    cursor = newer or older
    kind = _cursor_kind(ordering)
    types = ordering.position_types()
    after = decode_cursor(cursor, kind, types) if cursor else None
    if newer:
        # Newer pages are read in the other direction from their edge, then turned round.
        ordering = Ordering(ordering.key, not ordering.descending)
    fetched = await browse(
        conn, flt, ordering=ordering, after=after, limit=PAGE_SIZE + 1, budget_ms=budget_ms
    )
    page = keyset_page(fetched, PAGE_SIZE, ordering.position)
    onward = page.next_cursor(kind)
    back = (
        encode_cursor(kind, ordering.position(page.rows[0]))
        if after is not None and page.rows and by_time
        else None
    )
    if newer:
        return Page([event_view(r) for r in reversed(page.rows)], older=back, newer=onward)
    return Page([event_view(r) for r in page.rows], older=onward, newer=back)


def _cursor_kind(ordering: Ordering) -> str:
    if ordering.key == SortKey.TIMESTAMP:
        return _CURSOR_KIND  # both directions share it: "newer" reads ascending
    return f"{_CURSOR_KIND}:{ordering.key.value}:{'desc' if ordering.descending else 'asc'}"


def category_chips(query: BrowserQuery, counts: dict[str, Count] | None = None) -> list[Chip]:
    """One link per category with its count under the other filters (capped or estimated,
    as the total is, so a broad search stays quick)."""
    counts = counts or {}
    chosen = query.form["category"].upper()
    chips = [Chip("All", query.url(category=""), count_text(counts.get("all")), not chosen)]
    for category in Category:
        chips.append(
            Chip(
                CATEGORY_STYLE[category].label,
                query.url(category=category.value),
                count_text(counts.get(category.value)),
                chosen == category.value,
                CATEGORY_STYLE[category],
            )
        )
    return chips


def parse_request(request: Request[Any, Any, Any]) -> BrowserQuery:
    """The browser's query from a request: the admin's zone, repeated type checkboxes."""
    params = request.query_params
    return browser_query.parse(
        params, zone=user_zone(request), repeated={"eventType": params.getall("eventType", [])}
    )


def _selected_count(flt: ActivityFilter, counts: dict[str, Count]) -> Count:
    """The list's total: its category's count, or the sum of the chosen ones."""
    if not flt.categories:
        return counts["all"]
    chosen = [counts[c] for c in flt.categories if c in counts]
    return Count(sum(c.value for c in chosen), any(c.estimated for c in chosen))


@get(browser_query.BROWSER_PATH, guards=[SESSION], include_in_schema=False)
async def activity_logs(
    request: Request[Any, Any, Any], services: NamedDependency[ApiServices]
) -> Template:
    query = parse_request(request)
    older = request.query_params.get("older") or None
    newer = request.query_params.get("newer") or None
    values: dict[str, Any] = {
        "f": query.form,
        "q": query,
        "terms": search_terms(query.form["search"]),
        "chosen_types": set(query.form["eventType"].upper().split(",")),
        "n8n_base": (services.settings.n8n_base_url or "").rstrip("/"),
        "zone": user_zone(request),
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
                    ordering=query.ordering,
                    budget_ms=settings.api_search_budget_ms,
                )
                counts = await count_by_category(
                    conn,
                    query.filter,
                    [c.value for c in Category],
                    settings.api_count_cap,
                    budget_ms=settings.api_count_budget_ms,
                )
        except ApiError as exc:  # a cursor that is not ours
            values["filter_error"] = str(exc.detail)
            status = 400
        else:
            values.update(
                items=page.items,
                chips=category_chips(query, counts),
                count=_selected_count(query.filter, counts),
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
