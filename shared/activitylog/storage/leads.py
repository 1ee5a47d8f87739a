"""SQL for the `leads` table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
        """
        SELECT l.id, l.airtable_record_id, l.client_id
        FROM unnest($1::uuid[]) AS t(id) JOIN leads AS l ON l.id = t.id
        """,
        ids,
    )
    return {r["id"]: LeadRef(r["id"], r["airtable_record_id"], r["client_id"]) for r in rows}


async def ensure_stubs(
    conn: asyncpg.Connection, wanted: list[tuple[str, uuid.UUID | None]]
) -> dict[str, LeadRef]:
    """Create a stub lead for each unknown Airtable id (names empty) and return every ref.

    Known leads are looked up first, so the common case (every lead exists) writes nothing;
    sorted input keeps concurrent batches taking row locks in one order (no deadlocks).
    """
    if not wanted:
        return {}
    refs = await _refs_by_airtable_id(conn, sorted({a for a, _ in wanted}))
    missing = sorted((a, c) for a, c in dict(wanted).items() if a not in refs)
    if missing:
        await conn.execute(
            """
            INSERT INTO leads (airtable_record_id, client_id)
            SELECT a, c FROM unnest($1::text[], $2::uuid[]) AS t(a, c)
            ORDER BY a
            ON CONFLICT (airtable_record_id) DO NOTHING
            """,
            [a for a, _ in missing],
            [c for _, c in missing],
        )
        refs |= await _refs_by_airtable_id(conn, [a for a, _ in missing])
    return refs


async def _refs_by_airtable_id(
    conn: asyncpg.Connection, airtable_ids: list[str]
) -> dict[str, LeadRef]:
    rows = await conn.fetch(
        """
        SELECT l.id, l.airtable_record_id, l.client_id
        FROM unnest($1::text[]) AS t(a) JOIN leads AS l ON l.airtable_record_id = t.a
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


# -- Read and upsert queries of the API ---------------------------------------------------

LEAD_DETAIL_FIELDS = ("client_id", "first_name", "last_name", "email", "phone", "status")
_LEAD_COLUMNS = """id, airtable_record_id, client_id, first_name, last_name, email, phone,
    status, last_activity_at, created_at, updated_at"""


async def fetch_lead(
    conn: asyncpg.Connection,
    *,
    lead_id: uuid.UUID | None = None,
    airtable_id: str | None = None,
) -> asyncpg.Record | None:
    """One lead by its UUID or its Airtable record id."""
    if lead_id is not None:
        return await conn.fetchrow(f"SELECT {_LEAD_COLUMNS} FROM leads WHERE id = $1", lead_id)
    return await conn.fetchrow(
        f"SELECT {_LEAD_COLUMNS} FROM leads WHERE airtable_record_id = $1", airtable_id
    )


async def upsert_details(
    conn: asyncpg.Connection, airtable_id: str, details: dict[str, Any]
) -> tuple[asyncpg.Record, bool]:
    """Create the lead or set the given detail fields (others keep their value); fills stubs.

    Returns the row and whether it was created.
    """
    unknown = set(details) - set(LEAD_DETAIL_FIELDS)
    if unknown:
        raise ValueError(f"not lead detail fields: {sorted(unknown)}")
    values = [details.get(name) for name in LEAD_DETAIL_FIELDS]
    record = await conn.fetchrow(
        f"""
        INSERT INTO leads AS l
            (airtable_record_id, client_id, first_name, last_name, email, phone, status)
        VALUES ($1, $2, coalesce($3, ''), coalesce($4, ''), $5, $6, $7)
        ON CONFLICT (airtable_record_id) DO UPDATE SET
            client_id = CASE WHEN 'client_id' = ANY($8) THEN $2 ELSE l.client_id END,
            first_name = CASE WHEN 'first_name' = ANY($8)
                THEN coalesce($3, '') ELSE l.first_name END,
            last_name = CASE WHEN 'last_name' = ANY($8)
                THEN coalesce($4, '') ELSE l.last_name END,
            email = CASE WHEN 'email' = ANY($8) THEN $5 ELSE l.email END,
            phone = CASE WHEN 'phone' = ANY($8) THEN $6 ELSE l.phone END,
            status = CASE WHEN 'status' = ANY($8) THEN $7 ELSE l.status END,
            updated_at = now()
        RETURNING {_LEAD_COLUMNS}, (xmax = 0) AS created
        """,
        airtable_id,
        *values,
        list(details),
    )
    assert record is not None
    return record, bool(record["created"])
