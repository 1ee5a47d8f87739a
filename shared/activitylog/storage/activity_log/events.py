"""The log's rows read as typed events (`activitylog.domain.reads.rows.StoredEvent`): the
page reads of `queries`, and any row of the same columns (a live stream's)."""

from __future__ import annotations

from typing import Any

import asyncpg

from activitylog.domain.reads.query import ActivityFilter, Ordering
from activitylog.domain.reads.rows import LeadName, StoredEvent
from activitylog.storage.activity_log.queries import RARE_MATCHES, browse


def stored_event(r: asyncpg.Record) -> StoredEvent:
    """A row of the log as read (`filters._READ_COLUMNS`, and when its lead was joined the
    lead's `_LEAD_COLUMNS`: `lead_row_id`, `first_name`, `last_name`, `lead_email`,
    `lead_name`)."""
    lead = None
    if r.get("lead_row_id") is not None:
        lead = LeadName(
            r["lead_row_id"], r["first_name"], r["last_name"], r["lead_email"], r["lead_name"]
        )
    return StoredEvent(
        id=r["id"],
        timestamp=r["timestamp"],
        event_type=r["event_type"],
        category=r["event_category"],
        description=r["description"],
        message_content=r["message_content"],
        metadata=r["metadata"],
        source=r["source"],
        execution_id=r["execution_id"],
        lead_id=r["lead_id"],
        lead_airtable_id=r["lead_airtable_id"],
        client_id=r["client_id"],
        created_by=r.get("created_by"),
        created_at=r.get("created_at"),
        lead=lead,
    )


async def browse_events(
    conn: asyncpg.Connection,
    f: ActivityFilter,
    *,
    ordering: Ordering = Ordering(),
    after: tuple[Any, ...] | None = None,
    limit: int = 50,
    offset: int = 0,
    with_lead: bool = True,
    budget_ms: int | None = None,
    rare_matches: int = RARE_MATCHES,
) -> list[StoredEvent]:
    """`queries.browse`, each row read as a `StoredEvent` (its lead's names in `lead`)."""
    rows = await browse(
        conn,
        f,
        ordering=ordering,
        after=after,
        limit=limit,
        offset=offset,
        with_lead=with_lead,
        budget_ms=budget_ms,
        rare_matches=rare_matches,
    )
    return [stored_event(r) for r in rows]
