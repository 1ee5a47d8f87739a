"""The admin browser's queries: list with counts, counts per category, CSV export; thin
adapters over `activitylog.use_cases.reads.browser` (the admin UI's page reads it too).

Portal keys read the same routes, always restricted to their own client.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.exceptions import PermissionDeniedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter
from litestar.response import Stream

from activitylog.domain.reads import params
from activitylog.domain.reads.query import SORT_NAMES, ActivityFilter, Ordering
from activitylog.use_cases.access.keys import Role
from activitylog.use_cases.reads.browser import BrowserQuery, count_categories, read_browser
from activitylog.use_cases.reads.counting import Counting, ReadBudget
from activitylog_api.auth import READ_ACTIVITY, Principal
from activitylog_api.csv_export import export_rows
from activitylog_api.errors import bad_request
from activitylog_api.openapi import (
    AIRTABLE_ID_PARAM,
    CURSOR_PARAM,
    KEY_ERRORS,
    UUID_PARAM,
    CategoryParam,
    ClientIdParam,
    CreatedByParam,
    DateFrom,
    DateTo,
    EventCategoryParam,
    EventTypeParam,
    error_responses,
    text_param,
)
from activitylog_api.state import ApiServices
from activitylog_api.views import ActivityPage, CategoryCounts, activity_item, category_counts

MAX_LIMIT = 100
# Deeper pages than this are slow to skip to; the cursor reaches any depth.
MAX_OFFSET = 100_000
SORT_KEYS = SORT_NAMES


_SEARCH_TEXT = (
    "full text over description, message and metadata values; also lead name/email "
    "(prefix, substring or similar spelling), phone or Airtable id"
)
Search = Annotated[
    str | None,
    QueryParameter(description=_SEARCH_TEXT, schema_extra=text_param(params.SEARCH_MAX_CHARS)),
]
LeadId = Annotated[str | None, QueryParameter(name="leadId", schema_extra=UUID_PARAM)]
LeadAirtableId = Annotated[
    str | None, QueryParameter(name="leadAirtableId", schema_extra=AIRTABLE_ID_PARAM)
]
Source = Annotated[str | None, QueryParameter(schema_extra=text_param(params.MAX_TEXT_CHARS))]
SourcePrefix = Annotated[
    str | None,
    QueryParameter(
        name="sourcePrefix",
        description="sources starting with this: `n8n` (every workflow), `ui:`, `n8n:wf-`",
        schema_extra=text_param(params.MAX_TEXT_CHARS),
    ),
]
ExecutionId = Annotated[
    str | None,
    QueryParameter(name="executionId", schema_extra=text_param(params.MAX_TEXT_CHARS)),
]


def provide_filter(
    principal: NamedDependency[Principal],
    search: Search = None,
    event_type: EventTypeParam = None,
    category: CategoryParam = None,
    event_category: EventCategoryParam = None,
    lead_id: LeadId = None,
    lead_airtable_id: LeadAirtableId = None,
    client_id: ClientIdParam = None,
    source: Source = None,
    source_prefix: SourcePrefix = None,
    execution_id: ExecutionId = None,
    created_by: CreatedByParam = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
) -> ActivityFilter:
    """Every filter of the browser, validated; a portal key is pinned to its client."""
    flt = params.activity_filter(
        {
            "dateFrom": date_from,
            "dateTo": date_to,
            "clientId": client_id,
            "leadId": lead_id,
            "leadAirtableId": lead_airtable_id,
            "category": category,
            "eventCategory": event_category,
            "eventType": event_type,
            "source": source,
            "sourcePrefix": source_prefix,
            "executionId": execution_id,
            "createdBy": created_by,
            "search": search,
        }
    )
    return pinned(flt, principal)


def pinned(flt: ActivityFilter, principal: Principal) -> ActivityFilter:
    """A portal key reads its own client only (naming another is a 403)."""
    if principal.role != Role.PORTAL:
        return flt
    if flt.client_id is not None and flt.client_id != principal.client_id:
        raise PermissionDeniedException("this portal key may only read its own client")
    return replace(flt, client_id=principal.client_id)


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
    return params.ordering(sort_by, sort_order)


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
        query = BrowserQuery(flt, ordering, cursor=cursor or None, offset=offset, limit=limit)
        budget = ReadBudget.from_settings(services.settings)
        found = await read_browser(services.pool, query, budget, counting=Counting.TOTAL)
        total = found.total.value if found.total else 0
        return {
            "activities": [activity_item(e) for e in found.events],
            "pagination": {
                "page": None if cursor else page,
                "limit": limit,
                "totalCount": total,
                "totalPages": math.ceil(total / limit),
                "hasMore": found.has_more,
                "nextCursor": found.next_cursor,
                "estimated": bool(found.total and found.total.estimated),
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
        budget = ReadBudget.from_settings(services.settings)
        return dict(category_counts(await count_categories(services.pool, flt, budget)))

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
