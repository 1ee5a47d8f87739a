"""What the background jobs read from `lead_activity_log`: cadence for suggested watch rules,
SMS facts for the SMS_Audit reconcile, stored rows for the analytics keeper."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from activitylog.domain.followers import LogPlace
from activitylog.storage.log_followers import ENDED

# -- Cadence, for suggested watch rules -----------------------------------------------------


async def event_minutes_by_source(
    conn: asyncpg.Connection, since: datetime, source_pattern: str | None = None
) -> dict[str, list[datetime]]:
    """Per source, the distinct minutes (event time, UTC, ascending) it has events in since
    `since`; a LIKE `source_pattern` narrows the sources. Read once by `watch suggest`."""
    rows = await conn.fetch(
        """
        SELECT source, date_trunc('minute', "timestamp", 'UTC') AS minute
        FROM lead_activity_log
        WHERE "timestamp" >= $1 AND "timestamp" <= now() AND ($2::text IS NULL OR source LIKE $2)
        GROUP BY 1, 2
        ORDER BY 1, 2
        """,
        since,
        source_pattern,
    )
    found: dict[str, list[datetime]] = {}
    for r in rows:
        found.setdefault(r["source"], []).append(r["minute"])
    return found


# -- SMS facts, for the SMS_Audit reconcile ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmsFact:
    """An SMS event as reconcile compares it: type, time, and the message's names."""

    event_type: str
    timestamp: datetime
    message_id: str
    phone: str
    lead: str


async def sms_facts_between(
    conn: asyncpg.Connection, event_types: list[str], start: datetime, end: datetime
) -> list[SmsFact]:
    """Events of `event_types` with start <= time < end, with their message id and phone
    (the tracking plan's metadata) and their lead (the Airtable id first)."""
    rows = await conn.fetch(
        """
        SELECT event_type, "timestamp",
               coalesce(metadata->>'messageId', '') AS message_id,
               coalesce(metadata->>'phone', '') AS phone,
               coalesce(lead_airtable_id, lead_id::text) AS lead
        FROM lead_activity_log
        WHERE event_type = ANY($1::text[]) AND "timestamp" >= $2 AND "timestamp" < $3
        """,
        event_types,
        start,
        end,
    )
    return [SmsFact(*r) for r in rows]


async def analytics_rows(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """The stored events with these ids (those still there), as the analytics read them,
    each with its lead's client."""
    return await conn.fetch(
        """
        SELECT a.id, a.lead_id, l.client_id, a.event_type, a."timestamp", a.source, a.metadata
        FROM lead_activity_log AS a JOIN leads AS l ON l.id = a.lead_id
        WHERE a.id = ANY($1::uuid[])
        """,
        ids,
    )


async def taken_rows_of_leads(
    conn: asyncpg.Connection, lead_ids: list[uuid.UUID], event_types: list[str], upto: LogPlace
) -> list[asyncpg.Record]:
    """These leads' stored events of `event_types` the analytics have taken in (followed up
    to `upto`, or stored before the followers and named by no note), as `analytics_rows`
    reads them: what a recount folds now (the others are folded when reached)."""
    return await conn.fetch(
        """
        SELECT a.id, a.lead_id, l.client_id, a.event_type, a."timestamp", a.source, a.metadata
        FROM lead_activity_log AS a JOIN leads AS l ON l.id = a.lead_id
        WHERE a.lead_id = ANY($1::uuid[]) AND a.event_type = ANY($2::text[])
          AND CASE WHEN a.tx IS NULL
                   THEN NOT EXISTS (SELECT 1 FROM analytics_queue AS q WHERE q.event_id = a.id)
                   ELSE (a.tx, a.position) <= ($3::text::xid8, $4) END
        """,
        lead_ids,
        event_types,
        str(upto.tx),
        upto.position,
    )


async def followed_rows(
    conn: asyncpg.Connection, after: LogPlace, limit: int, event_types: list[str]
) -> list[asyncpg.Record]:
    """The next `limit` rows of ended transactions after `after`, in the log's order
    (activitylog.domain.followers), each with its lead's client; `metadata` only for rows of
    `event_types` (the rest are only stepped over)."""
    return await conn.fetch(
        f"""
        SELECT a.tx::text::bigint AS tx, a.position, a.created_at, a.id, a.lead_id,
               l.client_id, a.event_type, a."timestamp", a.source,
               CASE WHEN a.event_type = ANY($4::text[]) THEN a.metadata END AS metadata
        FROM lead_activity_log AS a JOIN leads AS l ON l.id = a.lead_id
        WHERE a.tx >= $1::text::xid8 AND (a.tx, a.position) > ($1::text::xid8, $2)
          AND {ENDED}
        ORDER BY a.tx, a.position
        LIMIT $3
        """,
        str(after.tx),
        after.position,
        limit,
        event_types,
    )
