"""What the background jobs read from `lead_activity_log`: cadence for suggested watch rules,
SMS facts for the SMS_Audit reconcile, stored rows for the analytics keeper."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

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
    campaign_id: str
    phone: str
    lead: str


async def sms_facts_between(
    conn: asyncpg.Connection, event_types: list[str], start: datetime, end: datetime
) -> list[SmsFact]:
    """Events of `event_types` with start <= time < end, with their campaign id and phone
    as the timeline shows them (metadata) and their lead (the Airtable id first)."""
    rows = await conn.fetch(
        """
        SELECT event_type, "timestamp",
               coalesce(metadata->>'campaign_id', metadata->>'campaignId', '') AS campaign_id,
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
