"""The SMS_Audit reconcile: the old table's facts and the log's events over one period."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg

from activitylog.domain.sms_audit.facts import FACT_TYPES, map_row
from activitylog.domain.sms_audit.reconcile import (
    SLACK,
    Period,
    Report,
    Sighting,
    airtable_sighting,
    compare,
)
from activitylog.domain.sms_audit.rows import AuditRow
from activitylog.storage.activity_log import extracts


def _sightings(
    rows: list[AuditRow], period: Period, seen: set[uuid.UUID]
) -> tuple[list[Sighting], int]:
    """The facts of `rows` near the period, each once: a "Delivery Update" row repeating
    its message's delivery is the same fact, as the backfill stores it once."""
    low, high = period.start - SLACK, period.end + SLACK
    found: list[Sighting] = []
    skipped = 0
    for row in rows:
        events, skips = map_row(row, period.tz)
        skipped += len(skips)
        for e in events:
            if low <= e.accepted.timestamp < high and e.accepted.id not in seen:
                seen.add(e.accepted.id)
                found.append(airtable_sighting(e))
    return found, skipped


async def reconcile(
    conn: asyncpg.Connection, chunks: AsyncIterator[list[AuditRow]], period: Period
) -> tuple[Report, int]:
    """The report, and how many facts of the old table could not be read (see backfill)."""
    airtable: list[Sighting] = []
    seen: set[uuid.UUID] = set()
    skipped = 0
    async for rows in chunks:
        found, n = await asyncio.to_thread(_sightings, rows, period, seen)
        airtable += found
        skipped += n
    facts = await extracts.sms_facts_between(
        conn, [t.value for t in FACT_TYPES], period.start - SLACK, period.end + SLACK
    )
    log = [Sighting(f.event_type, f.timestamp, f.message_id, f.phone, f.lead) for f in facts]
    return compare(airtable, log, period, slack=SLACK), skipped
