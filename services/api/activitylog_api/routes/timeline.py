"""GET /api/leads/{id}/activity: one lead's timeline, newest first, keyset-paginated."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter

from activitylog.storage import leads
from activitylog.storage.activity_log.filters import ActivityFilter, Ordering
from activitylog.storage.activity_log.queries import browse
from activitylog.use_cases.access.keys import Role
from activitylog_api import params
from activitylog_api.auth import READ_ACTIVITY, Principal
from activitylog_api.cursor import CURSOR_PARAM, decode_cursor
from activitylog_api.errors import ApiError
from activitylog_api.openapi import (
    KEY_ERRORS,
    NO_NUL,
    DateFrom,
    DateTo,
    error_responses,
    list_param,
)
from activitylog_api.paging import keyset_page
from activitylog_api.state import ApiServices
from activitylog_api.views import TimelinePage, timeline_item

MAX_LIMIT = 500
MAX_REFERENCE_CHARS = 100
_CURSOR_KIND = "timeline"


def lead_not_found(reference: str) -> ApiError:
    return ApiError(404, f"lead {reference!r} not found")


@get(
    "/api/leads/{id:str}/activity",
    guards=[READ_ACTIVITY],
    summary="A lead's timeline, newest first",
    description="`id` is the lead's UUID or its Airtable record id (rec…). Portal keys see "
    "only their client's leads (404 for any other).",
    tags=["timeline"],
    responses=error_responses(*KEY_ERRORS, 404),
)
async def lead_activity(
    id: Annotated[  # the path parameter is `id` in the spec
        str,
        PathParameter(
            description="the lead's UUID or Airtable record id",
            schema_extra={"max_length": MAX_REFERENCE_CHARS, "pattern": NO_NUL},
        ),
    ],
    services: NamedDependency[ApiServices],
    principal: NamedDependency[Principal],
    category: Annotated[
        str | None,
        QueryParameter(
            description="a category, or several separated by commas",
            schema_extra=list_param(params.VALID_CATEGORIES),
        ),
    ] = None,
    event_type: Annotated[
        str | None,
        QueryParameter(
            name="eventType",
            description="an event type, or several separated by commas",
            schema_extra=list_param(params.VALID_TYPES),
        ),
    ] = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="1–500")] = 100,
    cursor: Annotated[
        str | None,
        QueryParameter(
            description="nextCursor of the previous page",
            schema_extra=CURSOR_PARAM,
        ),
    ] = None,
) -> TimelinePage:
    reference = params.text("id", id, MAX_REFERENCE_CHARS) or ""
    since, before = params.time_range(date_from, date_to)
    flt = ActivityFilter(
        categories=params.categories("category", category),
        event_types=params.event_types("eventType", event_type),
        since=since,
        before=before,
    )
    after = decode_cursor(cursor, _CURSOR_KIND, (datetime, uuid.UUID)) if cursor else None
    async with services.pool.acquire() as conn:
        lead = await leads.find_lead(conn, reference)
        if lead is None or (
            principal.role == Role.PORTAL and lead["client_id"] != principal.client_id
        ):
            raise lead_not_found(reference)
        flt = replace(flt, lead_id=lead["id"])
        rows = await browse(
            conn, flt, ordering=Ordering(), after=after, limit=limit + 1, with_lead=False
        )
    page = keyset_page(rows, limit, Ordering().position)
    return {
        "timeline": [timeline_item(r) for r in page.rows],
        "pagination": {
            "limit": limit,
            "hasMore": page.has_more,
            "nextCursor": page.next_cursor(_CURSOR_KIND),
        },
    }
