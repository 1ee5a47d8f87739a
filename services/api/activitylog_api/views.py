"""Stored rows → the JSON shapes of docs/CONTRACT.md §5, named as the portal expects them.

The TypedDicts are those shapes as the OpenAPI document describes them.
"""

# No `from __future__ import annotations`: TypedDict reads NotRequired from real annotations.
from typing import Any, Literal, NotRequired, TypedDict, cast

import asyncpg

from activitylog.contract.times import iso

RetryStatusName = Literal["pending", "resolved", "dead", "discarded"]


class FieldError(TypedDict):
    """One reason a request was refused: the parameter or body field, and what is wrong."""

    field: str
    message: str


class ErrorBody(TypedDict):
    """Every error answer (4xx and 5xx): `error` says what went wrong, `errors` names fields."""

    success: Literal[False]
    error: str
    errors: NotRequired[list[FieldError]]
    validTypes: NotRequired[list[str]]
    validCategories: NotRequired[list[str]]
    validSortBy: NotRequired[list[str]]


class TimelineItem(TypedDict):
    id: str
    timestamp: str
    eventType: str
    category: str
    description: str
    message: str | None
    details: dict[str, Any] | None
    source: str
    executionId: str | None


class TimelinePagination(TypedDict):
    limit: int
    hasMore: bool
    nextCursor: str | None


class TimelinePage(TypedDict):
    """`GET /api/leads/{id}/activity`."""

    timeline: list[TimelineItem]
    pagination: TimelinePagination


class LeadSummary(TypedDict):
    id: str
    firstName: str | None
    lastName: str | None
    email: str | None
    # What the admin UI shows, and what sortBy=lead orders by: the name, else the email or
    # Airtable id of a lead not yet named.
    displayName: str


class ActivityItem(TypedDict):
    id: str
    timestamp: str
    eventType: str
    category: str
    description: str
    messageContent: str | None
    metadata: dict[str, Any] | None
    source: str
    executionId: str | None
    leadAirtableId: str | None
    lead: LeadSummary | None


class BrowserPagination(TypedDict):
    page: int | None
    limit: int
    totalCount: int
    totalPages: int
    hasMore: bool
    nextCursor: str | None
    estimated: bool


class ActivityPage(TypedDict):
    """`GET /api/admin/activity-logs`."""

    activities: list[ActivityItem]
    pagination: BrowserPagination


# The category tabs: `all` and one count per category (activitylog.taxonomy.Category).
class CategoryCounts(TypedDict):
    all: int
    SMS: int
    CAMPAIGN: int
    BOOKING: int
    MANUAL: int
    CONVERSATION: int
    SYSTEM: int
    estimated: bool


class LeadItem(TypedDict):
    id: str
    airtableId: str
    clientId: str | None
    firstName: str | None
    lastName: str | None
    email: str | None
    phone: str | None
    status: str | None
    lastActivityAt: str | None
    createdAt: str
    updatedAt: str


class LeadSaved(TypedDict):
    """`PUT /api/internal/leads/{airtableId}`: 201 when the lead was new, else 200."""

    success: Literal[True]
    created: bool
    lead: LeadItem


class EventAccepted(TypedDict):
    """One logged event: `queued` false means stored directly (Redis was down)."""

    success: Literal[True]
    activityId: str
    timestamp: str
    queued: bool


class RetryRowBody(TypedDict):
    id: int
    queueId: str
    operationType: str
    leadId: str | None
    payload: str
    retryCount: int
    nextRetryAt: str | None
    lastError: str | None
    status: RetryStatusName
    createdAt: str
    updatedAt: str
    alertedAt: str | None


class RetryQueuePagination(TypedDict):
    limit: int
    hasMore: bool
    nextCursor: str | None


class RetryQueuePage(TypedDict):
    """`GET /api/admin/retry-queue`: rows newest first and the count of rows per status."""

    rows: list[RetryRowBody]
    counts: dict[str, int]
    pagination: RetryQueuePagination


class ReplayOutcome(TypedDict):
    id: int
    queueId: str
    leadId: str | None
    previousStatus: RetryStatusName
    status: RetryStatusName
    retryCount: int
    eventId: str | None
    inserted: bool
    error: str | None
    nextRetryAt: str | None
    note: str | None


class Replayed(TypedDict):
    success: bool
    outcome: ReplayOutcome
    row: RetryRowBody | None


class Discarded(TypedDict):
    success: Literal[True]
    row: RetryRowBody


class StreamFigures(TypedDict):
    length: int | None
    pending: int | None
    lag: int | None
    oldest_pending_age_s: float | None


class SilentSource(TypedDict):
    """A watched source past its rule's limit (`activitylog watch`)."""

    source: str
    rule: str
    last_event: str | None
    silent_for_s: int | None
    since: str


class RateDrop(TypedDict):
    """A source whose last hour fell far below its usual rate."""

    source: str
    rule: str
    detail: str
    since: str


class HealthReport(TypedDict):
    """`GET /api/internal/activity-health` (activitylog.health.health_report)."""

    status: Literal["healthy", "degraded", "unhealthy"]
    timestamp: str
    events_last_hour: int | None
    events_last_24h: int | None
    retry_queue_size: int | None
    unplaced_events: int | None  # pending rows no lead took yet (phone, email, message)
    dead_letters: int | None
    stream: StreamFigures
    last_event: str | None
    silent_sources: list[SilentSource]
    rate_drops: list[RateDrop]
    reasons: list[str]


class Readiness(TypedDict):
    status: Literal["ready", "not ready"]
    postgres: str
    redis: str


class Liveness(TypedDict):
    status: Literal["ok"]


def timeline_item(row: asyncpg.Record) -> TimelineItem:
    """One entry of `GET /api/leads/{id}/activity`."""
    return {
        "id": str(row["id"]),
        "timestamp": iso(row["timestamp"]),
        "eventType": row["event_type"],
        "category": row["event_category"],
        "description": row["description"],
        "message": row["message_content"],
        "details": row["metadata"],
        "source": row["source"],
        "executionId": row["execution_id"],
    }


def activity_item(row: asyncpg.Record) -> ActivityItem:
    """One entry of `GET /api/admin/activity-logs` (row from a query joined with its lead)."""
    lead = None
    if row["lead_row_id"] is not None:
        lead = {
            "id": str(row["lead_row_id"]),
            "firstName": row["first_name"],
            "lastName": row["last_name"],
            "email": row["lead_email"],
            "displayName": row["lead_name"],
        }
    return cast(ActivityItem, {**event_fields(row), "lead": lead})


def event_fields(row: asyncpg.Record) -> dict[str, Any]:
    """A stored event's own fields under the API's names (its lead's are the caller's)."""
    return {
        "id": str(row["id"]),
        "timestamp": iso(row["timestamp"]),
        "eventType": row["event_type"],
        "category": row["event_category"],
        "description": row["description"],
        "messageContent": row["message_content"],
        "metadata": row["metadata"],
        "source": row["source"],
        "executionId": row["execution_id"],
        "leadAirtableId": row["lead_airtable_id"],
    }


def lead_item(row: asyncpg.Record) -> LeadItem:
    """A lead as `PUT /api/internal/leads/{airtableId}` returns it."""
    return {
        "id": str(row["id"]),
        "airtableId": row["airtable_record_id"],
        "clientId": str(row["client_id"]) if row["client_id"] else None,
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "email": row["email"],
        "phone": row["phone"],
        "status": row["status"],
        "lastActivityAt": iso(row["last_activity_at"]),
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }
