"""Stored rows → the JSON shapes of docs/CONTRACT.md §5, named as the portal expects them.

The TypedDicts are those shapes as the OpenAPI document describes them.
"""

# No `from __future__ import annotations`: TypedDict reads NotRequired from real annotations.
from typing import Any, Literal, NotRequired, TypedDict, cast

import asyncpg

from activitylog.domain.reads.query import CategoryCounts as Counts
from activitylog.domain.reads.rows import StoredEvent, event_json, lead_json, lead_name_json
from activitylog.storage.activity_log.events import stored_event
from activitylog.storage.leads import lead_record
from activitylog.use_cases.reads.timeline import LeadOverview as Overview

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


class EventItem(TypedDict):
    """A stored event: its one JSON spelling on every read (the timeline, the browser, the
    lead, the CSV export's columns and the admin UI's Copy JSON)."""

    id: str
    timestamp: str
    eventType: str
    category: str
    description: str
    messageContent: str | None
    metadata: dict[str, Any] | None
    source: str
    executionId: str | None
    createdBy: str | None  # the portal user behind a UI action
    leadId: str
    leadAirtableId: str | None
    clientId: str | None
    createdAt: str | None  # when it was stored


class TimelineItem(EventItem):
    # Deprecated: the same values as messageContent and metadata (this route's old names).
    message: str | None
    details: dict[str, Any] | None


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


class ActivityItem(EventItem):
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


class LeadProfile(TypedDict):
    """A lead as the reads show it."""

    id: str
    airtableId: str | None
    clientId: str | None
    firstName: str | None
    lastName: str | None
    email: str | None
    phone: str | None
    status: str | None
    displayName: str  # the name shown: the name, else the email or the Airtable id
    lastActivityAt: str | None
    createdAt: str
    updatedAt: str


class LeadOverview(TypedDict):
    """`GET /api/leads/{id}`: the lead, its newest event and its events per category."""

    lead: LeadProfile
    lastActivity: EventItem | None
    counts: CategoryCounts


class LeadSaved(TypedDict):
    """`PUT /api/internal/leads/{airtableId}`: 201 when the lead was new, else 200."""

    success: Literal[True]
    created: bool
    lead: LeadItem


class EventAccepted(TypedDict):
    """One logged event: `queued` false means stored directly (Redis was down)."""

    success: Literal[True]
    activityId: str
    # The event's time; for one sent without it, this request's receipt (a re-send of an
    # event already logged keeps its first time: docs/CONTRACT.md §5).
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


class ReadReplica(TypedDict):
    """Where the read routes read (only with DATABASE_READ_URL; docs/SCALING.md)."""

    configured: bool
    reads_on: Literal["replica", "primary"]
    state: str
    lag_s: float | None
    max_lag_s: float
    replay_paused: bool | None
    checked_at: str | None


class Readiness(TypedDict):
    status: Literal["ready", "not ready"]
    postgres: str
    redis: str
    # With a read replica: its lag and where reads go. Its state never makes the API unready
    # (reads fall back to the primary).
    read_replica: NotRequired[ReadReplica]


class Liveness(TypedDict):
    status: Literal["ok"]


def typed_event(event: StoredEvent | asyncpg.Record) -> StoredEvent:
    """The typed event the reads return, or a row of the log's columns (a live stream's)
    read as one."""
    return event if isinstance(event, StoredEvent) else stored_event(event)


def event_item(event: StoredEvent | asyncpg.Record) -> EventItem:
    return cast(EventItem, event_json(typed_event(event)))


def timeline_item(event: StoredEvent | asyncpg.Record) -> TimelineItem:
    """One entry of `GET /api/leads/{id}/activity`: the event, and its deprecated aliases."""
    body = event_json(typed_event(event))
    return cast(
        TimelineItem, {**body, "message": body["messageContent"], "details": body["metadata"]}
    )


def activity_item(event: StoredEvent | asyncpg.Record) -> ActivityItem:
    """One entry of `GET /api/admin/activity-logs`: the event and its lead's names."""
    event = typed_event(event)
    return cast(ActivityItem, {**event_json(event), "lead": lead_name_json(event.lead)})


def category_counts(counts: Counts) -> CategoryCounts:
    """`{all, SMS, …, estimated}`: the browser's tabs, a lead's events per category."""
    body: dict[str, Any] = {"all": counts.all.value}
    body.update({name: count.value for name, count in counts.by_category.items()})
    body["estimated"] = counts.estimated
    return cast(CategoryCounts, body)


def lead_overview_body(found: Overview) -> LeadOverview:
    last = found.last_activity
    return {
        "lead": cast(LeadProfile, lead_json(found.lead)),
        "lastActivity": event_item(last) if last is not None else None,
        "counts": category_counts(found.counts),
    }


def lead_item(row: asyncpg.Record) -> LeadItem:
    """A lead as `PUT /api/internal/leads/{airtableId}` returns it (a row the lead saving
    read back, as the typed lead)."""
    body = lead_json(lead_record(row))
    del body["displayName"]
    return cast(LeadItem, body)
