"""The admin browser's queries: list with counts, counts per category, CSV export.

Portal keys read the same routes, always restricted to their own client.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.exceptions import PermissionDeniedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter
from litestar.response import Stream

from activitylog.contract.taxonomy import Category
from activitylog.storage.activity_log.filters import ActivityFilter, Ordering, SortKey
from activitylog.storage.activity_log.queries import browse
from activitylog.use_cases.access.keys import Role
from activitylog.use_cases.counters.totals import count_by_category, count_total
from activitylog_api import params
from activitylog_api.auth import READ_ACTIVITY, Principal
from activitylog_api.csv_export import export_rows
from activitylog_api.cursor import CURSOR_PARAM, decode_cursor
from activitylog_api.errors import bad_request
from activitylog_api.openapi import (
    AIRTABLE_ID_PARAM,
    KEY_ERRORS,
    UUID_PARAM,
    ClientIdParam,
    DateFrom,
    DateTo,
    error_responses,
    list_param,
    text_param,
)
from activitylog_api.paging import keyset_page
from activitylog_api.state import ApiServices
from activitylog_api.views import ActivityPage, CategoryCounts, activity_item

MAX_LIMIT = 100
# Deeper pages than this are slow to skip to; the cursor reaches any depth.
MAX_OFFSET = 100_000
SEARCH_MAX_CHARS = 200
SORT_KEYS = [k.value for k in SortKey]


def provide_filter(
    principal: NamedDependency[Principal],
    search: Annotated[
        str | None,
        QueryParameter(
            description="full text over description, message and metadata values; also lead "
            "name/email (prefix, substring or similar spelling), phone or Airtable id",
            schema_extra=text_param(SEARCH_MAX_CHARS),
        ),
    ] = None,
    event_type: Annotated[
        str | None,
        QueryParameter(name="eventType", schema_extra=list_param(params.VALID_TYPES)),
    ] = None,
    category: Annotated[
        str | None, QueryParameter(schema_extra=list_param(params.VALID_CATEGORIES))
    ] = None,
    lead_id: Annotated[str | None, QueryParameter(name="leadId", schema_extra=UUID_PARAM)] = None,
    lead_airtable_id: Annotated[
        str | None, QueryParameter(name="leadAirtableId", schema_extra=AIRTABLE_ID_PARAM)
    ] = None,
    client_id: ClientIdParam = None,
    source: Annotated[
        str | None, QueryParameter(schema_extra=text_param(params.MAX_TEXT_CHARS))
    ] = None,
    source_prefix: Annotated[
        str | None,
        QueryParameter(
            name="sourcePrefix",
            description="sources starting with this: `n8n` (every workflow), `ui:`, `n8n:wf-`",
            schema_extra=text_param(params.MAX_TEXT_CHARS),
        ),
    ] = None,
    execution_id: Annotated[
        str | None,
        QueryParameter(name="executionId", schema_extra=text_param(params.MAX_TEXT_CHARS)),
    ] = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
) -> ActivityFilter:
    """Every filter of the browser, validated; a portal key is pinned to its client."""
    since, before = params.time_range(date_from, date_to)
    client = params.uuid_value("clientId", client_id)
    if principal.role == Role.PORTAL:
        if client is not None and client != principal.client_id:
            raise PermissionDeniedException("this portal key may only read its own client")
        client = principal.client_id
    return ActivityFilter(
        lead_id=params.uuid_value("leadId", lead_id),
        lead_airtable_id=params.airtable_id("leadAirtableId", lead_airtable_id),
        client_id=client,
        categories=params.categories("category", category),
        event_types=params.event_types("eventType", event_type),
        source=params.text("source", source),
        source_prefix=params.text("sourcePrefix", source_prefix),
        execution_id=params.text("executionId", execution_id),
        since=since,
        before=before,
        search=params.text("search", search, SEARCH_MAX_CHARS),
    )


def provide_ordering(
    sort_by: Annotated[
        str,
        QueryParameter(
            name="sortBy",
            description="timestamp|eventType|eventCategory|lead",
            schema_extra={"enum": SORT_KEYS},
        ),
    ] = "timestamp",
    sort_order: Annotated[
        str,
        QueryParameter(
            name="sortOrder", description="desc|asc", schema_extra={"enum": ["desc", "asc"]}
        ),
    ] = "desc",
) -> Ordering:
    if sort_by not in SORT_KEYS:
        raise bad_request("sortBy", f"must be one of {', '.join(SORT_KEYS)}", validSortBy=SORT_KEYS)
    order = sort_order.lower()
    if order not in ("asc", "desc"):
        raise bad_request("sortOrder", "must be asc or desc")
    return Ordering(SortKey(sort_by), order == "desc")


def _cursor_kind(ordering: NamedDependency[Ordering]) -> str:
    return f"browse:{ordering.key.value}:{'desc' if ordering.descending else 'asc'}"


class AdminActivityLogs(Controller):
    path = "/api/admin/activity-logs"
    guards = [READ_ACTIVITY]  # noqa: RUF012 - Litestar reads the class attribute
    tags = ["admin browser"]  # noqa: RUF012
    dependencies = {  # noqa: RUF012
        "flt": Provide(provide_filter, sync_to_thread=False),
        "ordering": Provide(provide_ordering, sync_to_thread=False),
    }

    @get("/", summary="Browse and search every event", responses=error_responses(*KEY_ERRORS))
    async def list_activity(
        self,
        services: NamedDependency[ApiServices],
        flt: NamedDependency[ActivityFilter],
        ordering: NamedDependency[Ordering],
        page: Annotated[
            int,
            QueryParameter(
                ge=1,
                le=1_000_000,
                description=f"(page - 1) × limit + limit ≤ {MAX_OFFSET}; deeper rows are "
                "reached with the cursor. Not with cursor.",
            ),
        ] = 1,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="1–100")] = 50,
        cursor: Annotated[
            str | None,
            QueryParameter(
                description="nextCursor of the previous page (instead of page)",
                schema_extra=CURSOR_PARAM,
            ),
        ] = None,
    ) -> ActivityPage:
        if cursor and page != 1:
            raise bad_request("cursor", "use either page or cursor, not both")
        offset = 0 if cursor else (page - 1) * limit
        if offset + limit > MAX_OFFSET:
            raise bad_request(
                "page", f"pages beyond row {MAX_OFFSET} are reached with the cursor, not page"
            )
        kind = _cursor_kind(ordering)
        after = decode_cursor(cursor, kind, ordering.position_types()) if cursor else None
        cap = services.settings.api_count_cap

        async def page_rows() -> list[Any]:
            async with services.pool.acquire() as conn:
                return await browse(
                    conn,
                    flt,
                    ordering=ordering,
                    after=after,
                    limit=limit + 1,
                    offset=offset,
                    budget_ms=services.settings.api_search_budget_ms,
                )

        async def total() -> Any:
            async with services.pool.acquire() as conn:
                return await count_total(
                    conn, flt, cap, budget_ms=services.settings.api_count_budget_ms
                )

        rows, count = await asyncio.gather(page_rows(), total())
        found = keyset_page(rows, limit, ordering.position)
        return {
            "activities": [activity_item(r) for r in found.rows],
            "pagination": {
                "page": None if cursor else page,
                "limit": limit,
                "totalCount": count.value,
                "totalPages": math.ceil(count.value / limit),
                "hasMore": found.has_more,
                "nextCursor": found.next_cursor(kind),
                "estimated": count.estimated,
            },
        }

    @get(
        "/counts",
        summary="Events per category for the same filters",
        description="`{all, SMS, CAMPAIGN, …, estimated}`. The `category` filter is ignored "
        "(the counts are the browser's category tabs).",
        responses={
            200: ResponseSpec(CategoryCounts, description="Counts", generate_examples=False),
            **error_responses(*KEY_ERRORS),
        },
    )
    async def counts(
        self, services: NamedDependency[ApiServices], flt: NamedDependency[ActivityFilter]
    ) -> dict[str, Any]:
        names = [c.value for c in Category]
        async with services.pool.acquire() as conn:
            counts = await count_by_category(
                conn,
                flt,
                names,
                services.settings.api_count_cap,
                budget_ms=services.settings.api_count_budget_ms,
            )
        body: dict[str, Any] = {name: count.value for name, count in counts.items()}
        body["estimated"] = any(c.estimated for c in counts.values())
        return body

    @get(
        "/export.csv",
        summary="The whole filtered set as CSV (streamed, no row cap)",
        # Litestar adds `; charset=utf-8` to any text/* type itself.
        media_type="text/csv",
        response_description="CSV with a header row (UTF-8), sent as an attachment",
        responses=error_responses(*KEY_ERRORS),
    )
    async def export_csv(
        self,
        services: NamedDependency[ApiServices],
        flt: NamedDependency[ActivityFilter],
        ordering: NamedDependency[Ordering],
    ) -> Stream:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        # Awaited here: the first rows are read before the 200 goes out (an outage is a 503).
        body = await export_rows(
            services.pool, flt, ordering, budget_ms=services.settings.api_search_budget_ms
        )
        return Stream(
            body,
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="activity-logs-{stamp}.csv"',
                "Cache-Control": "no-store",
            },
        )
