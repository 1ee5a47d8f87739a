"""A lead's timeline, newest first, for `GET /api/leads/{id}/activity` and the admin UI's
lead page alike; and the lead itself with its last activity and counts per category, for
`GET /api/leads/{id}` and the browser rows' lead context."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

import asyncpg

from activitylog.domain.reads.cursor import decode_cursor
from activitylog.domain.reads.paging import keyset_page
from activitylog.domain.reads.query import ActivityFilter, CategoryCounts, Count, Ordering
from activitylog.domain.reads.rows import LeadRecord, StoredEvent
from activitylog.storage import leads
from activitylog.storage.activity_log.events import browse_events
from activitylog.use_cases.reads.counting import (
    Counting,
    ReadBudget,
    category_counts,
    count_total,
)

CURSOR_KIND = "timeline"
# The admin UI's lead page called its cursors this before it shared the read.
_CURSOR_KINDS = (CURSOR_KIND, "ui-timeline")
_NEWEST_FIRST = Ordering()


@dataclass(frozen=True, slots=True)
class TimelineQuery:
    """A page of the lead `lead` names (its UUID or Airtable id), after `cursor` (a page's
    `next_cursor`). `filter`'s lead and client fields are the lead's own and ignored.
    `client_id`: the reader's client (a portal key's); another client's lead is not found."""

    lead: str
    filter: ActivityFilter = ActivityFilter()
    cursor: str | None = None
    limit: int = 100
    client_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Timeline:
    lead: LeadRecord
    events: list[StoredEvent]  # newest first, without their lead (it is `lead`)
    has_more: bool
    next_cursor: str | None
    total: Count | None = None  # the events the filter matches (Counting.NONE: None)
    categories: CategoryCounts | None = None  # Counting.BY_CATEGORY: the lead's tabs


async def visible_lead(
    conn: asyncpg.Connection, reference: str, client_id: uuid.UUID | None
) -> LeadRecord | None:
    """The lead `reference` names, unless it belongs to another client than `client_id`
    (which then reads as no lead at all) or is deleted."""
    lead = await leads.find_lead_record(conn, reference.strip())
    if lead is None or (client_id is not None and lead.client_id != client_id):
        return None
    return lead


async def read_timeline(
    pool: asyncpg.Pool,
    query: TimelineQuery,
    budget: ReadBudget = ReadBudget(),
    *,
    counting: Counting = Counting.NONE,
) -> Timeline | None:
    """A page of the lead's events (None: no such lead for this reader) and, on request,
    their count or the lead's counts per category. A lead's events are counted through its
    own index, up to `budget.count_cap`, without a time budget. A bad cursor raises
    BadQuery before anything is read."""
    after = None
    if query.cursor:
        after = decode_cursor(query.cursor, _CURSOR_KINDS, _NEWEST_FIRST.position_types())
    async with pool.acquire() as conn:
        lead = await visible_lead(conn, query.lead, query.client_id)
        if lead is None:
            return None
        flt = replace(query.filter, lead_id=lead.id, lead_airtable_id=None, client_id=None)
        rows = await browse_events(conn, flt, after=after, limit=query.limit + 1, with_lead=False)
        page = keyset_page(rows, query.limit, _NEWEST_FIRST.position)
        timeline = Timeline(lead, page.rows, page.has_more, page.next_cursor(CURSOR_KIND))
        cap = budget.count_cap
        if counting is Counting.TOTAL:
            return replace(timeline, total=await count_total(conn, flt, cap, None))
        if counting is Counting.BY_CATEGORY:
            counts = await category_counts(conn, flt, cap, None)
            return replace(timeline, total=counts.of(flt.categories), categories=counts)
    return timeline


@dataclass(frozen=True, slots=True)
class LeadOverview:
    lead: LeadRecord
    last_activity: StoredEvent | None  # its newest event (without its lead)
    counts: CategoryCounts  # all its events, and per category


async def lead_overview(
    pool: asyncpg.Pool,
    reference: str,
    budget: ReadBudget = ReadBudget(),
    *,
    client_id: uuid.UUID | None = None,
) -> LeadOverview | None:
    """The lead `reference` names (its UUID or Airtable id; None: no such lead for a reader
    of `client_id`), its newest event and its counts per category (capped and within the
    count budget, as the browser's tabs)."""
    async with pool.acquire() as conn:
        lead = await visible_lead(conn, reference, client_id)
        if lead is None:
            return None
        flt = ActivityFilter(lead_id=lead.id)
        newest = await browse_events(conn, flt, limit=1, with_lead=False)
        counts = await category_counts(conn, flt, budget.count_cap, budget.count_budget_ms)
    return LeadOverview(lead, newest[0] if newest else None, counts)
