"""SQL for the `leads` table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class LeadRef:
    """What an event needs to know about its lead."""

    id: uuid.UUID
    airtable_record_id: str | None
    client_id: uuid.UUID | None


async def fetch_refs_by_id(
    conn: asyncpg.Connection, ids: list[uuid.UUID]
) -> dict[uuid.UUID, LeadRef]:
    """The leads among `ids` that exist."""
    if not ids:
        return {}
    rows = await conn.fetch(
        "SELECT id, airtable_record_id, client_id FROM leads WHERE id = ANY($1::uuid[])", ids
    )
    return {r["id"]: LeadRef(r["id"], r["airtable_record_id"], r["client_id"]) for r in rows}


async def ensure_stubs(
    conn: asyncpg.Connection, wanted: list[tuple[str, uuid.UUID | None]]
) -> dict[str, LeadRef]:
    """Create a stub lead for each unknown Airtable id (names empty) and return every ref.

    Sorted input keeps concurrent batches taking row locks in one order (no deadlocks).
    """
    if not wanted:
        return {}
    wanted = sorted(wanted, key=lambda item: item[0])
    airtable_ids = [a for a, _ in wanted]
    await conn.execute(
        """
        INSERT INTO leads (airtable_record_id, client_id)
        SELECT a, c FROM unnest($1::text[], $2::uuid[]) AS t(a, c)
        ORDER BY a
        ON CONFLICT (airtable_record_id) DO NOTHING
        """,
        airtable_ids,
        [c for _, c in wanted],
    )
    rows = await conn.fetch(
        """
        SELECT id, airtable_record_id, client_id FROM leads
        WHERE airtable_record_id = ANY($1::text[])
        """,
        airtable_ids,
    )
    return {
        r["airtable_record_id"]: LeadRef(r["id"], r["airtable_record_id"], r["client_id"])
        for r in rows
    }


async def advance_last_activity(
    conn: asyncpg.Connection, latest: dict[uuid.UUID, datetime]
) -> None:
    """Move `last_activity_at` forward to the given times, never backward."""
    if not latest:
        return
    ids = sorted(latest)
    await conn.execute(
        """
        UPDATE leads AS l
        SET last_activity_at = v.ts, updated_at = now()
        FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, ts)
        WHERE l.id = v.id AND (l.last_activity_at IS NULL OR l.last_activity_at < v.ts)
        """,
        ids,
        [latest[i] for i in ids],
    )
