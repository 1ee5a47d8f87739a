"""/admin/activity-logs: the searchable, filterable, live activity browser; a thin adapter
over `activitylog.use_cases.reads.browser` (the JSON API's browser reads it too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Template

from activitylog.contract.taxonomy import CATEGORY_STYLE, Category, CategoryStyle
from activitylog.domain.reads.query import BadQuery, CategoryCounts, Count
from activitylog.use_cases.reads.browser import BrowserQuery, read_browser
from activitylog.use_cases.reads.counting import Counting, ReadBudget
from activitylog_api.state import ApiServices
from activitylog_api.ui import browser_query
from activitylog_api.ui.browser_query import BrowserForm
from activitylog_api.ui.guard import SESSION, page_context, user_zone, wants_partial
from activitylog_api.ui.highlight import search_terms
from activitylog_api.ui.present import event_view

PAGE_SIZE = 50
REFRESH_S = 30


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


def category_chips(query: BrowserForm, counts: CategoryCounts | None = None) -> list[Chip]:
    """One link per category with its count under the other filters (capped or estimated,
    as the total is, so a broad search stays quick)."""
    chosen = query.form["category"].upper()
    every = counts.all if counts else None
    chips = [Chip("All", query.url(category=""), count_text(every), not chosen)]
    for category in Category:
        count = counts.by_category.get(category.value) if counts else None
        chips.append(
            Chip(
                CATEGORY_STYLE[category].label,
                query.url(category=category.value),
                count_text(count),
                chosen == category.value,
                CATEGORY_STYLE[category],
            )
        )
    return chips


def parse_request(request: Request[Any, Any, Any]) -> BrowserForm:
    """The browser's query from a request: the admin's zone, repeated type checkboxes."""
    params = request.query_params
    return browser_query.parse(
        params, zone=user_zone(request), repeated={"eventType": params.getall("eventType", [])}
    )


def _context(
    request: Request[Any, Any, Any], services: ApiServices, form: BrowserForm
) -> dict[str, Any]:
    query = request.query_params
    return {
        "f": form.form,
        "q": form,
        "terms": search_terms(form.form["search"]),
        "chosen_types": set(form.form["eventType"].upper().split(",")),
        "n8n_base": (services.settings.n8n_base_url or "").rstrip("/"),
        "zone": user_zone(request),
        "type_groups": browser_query.TYPE_GROUPS,
        "ranges": browser_query.RANGES,
        "refresh_s": REFRESH_S,
        "count_cap": services.settings.api_count_cap,
        "export_url": form.url(browser_query.EXPORT_PATH),
        "filter_error": form.error,
        "has_filters": form.has_filters,
        "live": not query.get("older") and not query.get("newer"),
        "items": [],
        "chips": [],
        "count": Count(0, False),
        "older_url": None,
        "newer_url": None,
    }


@get(browser_query.BROWSER_PATH, guards=[SESSION], include_in_schema=False)
async def activity_logs(
    request: Request[Any, Any, Any], services: NamedDependency[ApiServices]
) -> Template:
    form = parse_request(request)
    values = _context(request, services, form)
    status = 400
    if form.error is None:
        query = BrowserQuery(
            form.filter,
            form.ordering,
            cursor=request.query_params.get("older") or None,
            newer=request.query_params.get("newer") or None,
            limit=PAGE_SIZE,
        )
        budget = ReadBudget.from_settings(services.settings)
        try:
            page = await read_browser(services.pool, query, budget, counting=Counting.BY_CATEGORY)
        except BadQuery as exc:  # a cursor that is not ours
            values["filter_error"] = str(exc)
        else:
            status = 200
            values.update(
                items=[event_view(e) for e in page.events],
                chips=category_chips(form, page.categories),
                count=page.total,
                older_url=form.url(older=page.next_cursor) if page.next_cursor else None,
                newer_url=form.url(newer=page.previous_cursor) if page.previous_cursor else None,
            )
    context = page_context(request, "activity", **values)
    name = "_activity_results.html" if wants_partial(request) else "activity_logs.html"
    return Template(
        template_name=name,
        context=context,
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )
