"""GET /api/leads/{id}/activity (one lead's timeline, newest first, keyset-paginated) and
GET /api/leads/{id} (the lead, its last activity, its events per category): thin adapters
over `activitylog.use_cases.reads.timeline` (the admin UI's lead page reads it too)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter

from activitylog.domain.reads import params
from activitylog.use_cases.access.keys import Role
from activitylog.use_cases.reads.counting import ReadBudget
from activitylog.use_cases.reads.timeline import TimelineQuery, lead_overview, read_timeline
from activitylog_api.auth import READ_ACTIVITY, Principal
from activitylog_api.errors import ApiError
from activitylog_api.openapi import (
    CURSOR_PARAM,
    KEY_ERRORS,
    NO_NUL,
    CategoryParam,
    CreatedByParam,
    DateFrom,
    DateTo,
    EventCategoryParam,
    EventTypeParam,
    error_responses,
)
from activitylog_api.state import ApiServices
from activitylog_api.views import LeadOverview, TimelinePage, lead_overview_body, timeline_item

MAX_LIMIT = 500
MAX_REFERENCE_CHARS = 100

LeadReference = Annotated[  # the path parameter is `id` in the spec
    str,
    PathParameter(
        description="the lead's UUID or Airtable record id",
        schema_extra={"max_length": MAX_REFERENCE_CHARS, "pattern": NO_NUL},
    ),
]


def lead_not_found(reference: str) -> ApiError:
    return ApiError(404, f"lead {reference!r} not found")


def _reader_client(principal: Principal) -> uuid.UUID | None:
    """The client a reader is pinned to: a portal key's own (another's lead is a 404)."""
    return principal.client_id if principal.role == Role.PORTAL else None


@get(
    "/api/leads/{id:str}/activity",
    guards=[READ_ACTIVITY],
    summary="A lead's timeline, newest first",
    description="`id` is the lead's UUID or its Airtable record id (rec…). Portal keys see "
    "only their client's leads (404 for any other). Each item is the stored event as every "
    "read spells it; `message` and `details` repeat `messageContent` and `metadata` under "
    "this route's old names (deprecated).",
    tags=["timeline"],
    responses=error_responses(*KEY_ERRORS, 404),
)
async def lead_activity(
    id: LeadReference,
    services: NamedDependency[ApiServices],
    principal: NamedDependency[Principal],
    category: CategoryParam = None,
    event_category: EventCategoryParam = None,
    event_type: EventTypeParam = None,
    created_by: CreatedByParam = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="1–500")] = 100,
    cursor: Annotated[
        str | None,
        QueryParameter(description="nextCursor of the previous page", schema_extra=CURSOR_PARAM),
    ] = None,
) -> TimelinePage:
    reference = params.text("id", id, MAX_REFERENCE_CHARS) or ""
    flt = params.activity_filter(
        {
            "dateFrom": date_from,
            "dateTo": date_to,
            "category": category,
            "eventCategory": event_category,
            "eventType": event_type,
            "createdBy": created_by,
        }
    )
    query = TimelineQuery(reference, flt, cursor or None, limit, _reader_client(principal))
    found = await read_timeline(services.pool, query)
    if found is None:
        raise lead_not_found(reference)
    return {
        "timeline": [timeline_item(e) for e in found.events],
        "pagination": {"limit": limit, "hasMore": found.has_more, "nextCursor": found.next_cursor},
    }


@get(
    "/api/leads/{id:str}",
    guards=[READ_ACTIVITY],
    summary="A lead, its last activity and its events per category",
    description="`id` is the lead's UUID or its Airtable record id (rec…). Portal keys see "
    "only their client's leads (404 for any other). `counts` are exact up to the API's "
    "count cap (`estimated` above it), as the browser's.",
    tags=["timeline"],
    responses=error_responses(*KEY_ERRORS, 404),
)
async def lead_details(
    id: LeadReference,
    services: NamedDependency[ApiServices],
    principal: NamedDependency[Principal],
) -> LeadOverview:
    reference = params.text("id", id, MAX_REFERENCE_CHARS) or ""
    budget = ReadBudget.from_settings(services.settings)
    found = await lead_overview(
        services.pool, reference, budget, client_id=_reader_client(principal)
    )
    if found is None:
        raise lead_not_found(reference)
    return lead_overview_body(found)
