"""SQL for the `leads` table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from activitylog.contract.references import parse_lead_reference


@dataclass(frozen=True, slots=True)
class LeadRef:
    """What an event needs to know about its lead."""

    id: uuid.UUID
    airtable_record_id: str | None
    client_id: uuid.UUID | None


# Leads an event batch references are read FOR KEY SHARE: moving a lead to another client
# (`upsert_details`, FOR UPDATE) then waits for the batch, or the batch for the move, so no
# event is stored under a client its lead just left. Nearly free: the foreign key check of
# the events' insert takes this very lock on the same rows anyway; it only comes earlier.
# KEY SHARE does not conflict with the batches' own UPDATE of last_activity_at.


async def fetch_refs_by_id(
    conn: asyncpg.Connection, ids: list[uuid.UUID]
) -> dict[uuid.UUID, LeadRef]:
    """The leads among `ids` that exist, locked FOR KEY SHARE in id order."""
    if not ids:
        return {}
    rows = await conn.fetch(
        """
        SELECT l.id, l.airtable_record_id, l.client_id
        FROM unnest($1::uuid[]) AS t(id) JOIN leads AS l ON l.id = t.id
        ORDER BY l.id
        FOR KEY SHARE OF l
        """,
        ids,
    )
    return {r["id"]: LeadRef(r["id"], r["airtable_record_id"], r["client_id"]) for r in rows}


async def ensure_stubs(
    conn: asyncpg.Connection, wanted: list[tuple[str, uuid.UUID | None]]
) -> dict[str, LeadRef]:
    """Create a stub lead for each unknown Airtable id (names empty) and return every ref.

    Known leads are looked up first (FOR KEY SHARE), so the common case (every lead exists)
    writes nothing; sorted input keeps concurrent batches taking row locks in one order.
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
        ORDER BY l.id
        FOR KEY SHARE OF l
        """,
        airtable_ids,
    )
    return {
        r["airtable_record_id"]: LeadRef(r["id"], r["airtable_record_id"], r["client_id"])
        for r in rows
    }


# The advisory lock class of a lead's client while it has none (the key: a hash of its id).
_CLIENT_LOCK = 0x1EAD


async def lock_clients(
    conn: asyncpg.Connection, storing: list[uuid.UUID], adopting: list[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID | None]:
    """Hold the client lock of leads without a client until the commit; return their clients.

    Shared for `storing` (events go in under the lead's client as it is), exclusive for
    `adopting` (the lead gets a client): an adoption waits for the events stored meanwhile,
    so it can move them too. Transaction advisory locks, not row locks: a lead row locked
    before the batch's inserts would deadlock with batches updating its last_activity_at.
    """
    ids = sorted({*storing, *adopting})
    if not ids:
        return {}
    exclusive = set(adopting)
    # In key order, so batches locking several leads cannot deadlock on one another.
    await conn.execute(
        """
        SELECT CASE WHEN keys.exclusive THEN pg_advisory_xact_lock($3, keys.k)
                    ELSE pg_advisory_xact_lock_shared($3, keys.k) END
        FROM (
            SELECT hashtext(t.id::text) AS k, bool_or(t.exclusive) AS exclusive
            FROM unnest($1::uuid[], $2::bool[]) AS t(id, exclusive)
            GROUP BY 1
            ORDER BY 1
        ) AS keys
        """,
        ids,
        [i in exclusive for i in ids],
        _CLIENT_LOCK,
    )
    rows = await conn.fetch("SELECT id, client_id FROM leads WHERE id = ANY($1::uuid[])", ids)
    return {r["id"]: r["client_id"] for r in rows}


async def advance_last_activity(
    conn: asyncpg.Connection,
    latest: dict[uuid.UUID, datetime],
    adopt: dict[uuid.UUID, uuid.UUID] | None = None,
) -> None:
    """Move `last_activity_at` forward to the given times, never backward; give the leads
    in `adopt` that client if they have none. One statement, so one round of row locks."""
    adopt = adopt or {}
    ids = sorted(latest.keys() | adopt.keys())
    if not ids:
        return
    await conn.execute(
        """
        UPDATE leads AS l
        SET last_activity_at = greatest(l.last_activity_at, v.ts),
            client_id = coalesce(l.client_id, v.client_id),
            updated_at = now()
        FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[]) AS v(id, ts, client_id)
        WHERE l.id = v.id
          AND (v.ts > l.last_activity_at
               OR (v.ts IS NOT NULL AND l.last_activity_at IS NULL)
               OR (v.client_id IS NOT NULL AND l.client_id IS NULL))
        """,
        ids,
        [latest.get(i) for i in ids],
        [adopt.get(i) for i in ids],
    )


# -- Read and upsert queries of the API ---------------------------------------------------

LEAD_DETAIL_FIELDS = ("client_id", "first_name", "last_name", "email", "phone", "status")
_LEAD_COLUMNS = """id, airtable_record_id, client_id, first_name, last_name, email, phone,
    status, last_activity_at, created_at, updated_at"""


async def find_lead(conn: asyncpg.Connection, reference: str) -> asyncpg.Record | None:
    """The lead `reference` names (its UUID or its Airtable record id), if it exists."""
    ref = parse_lead_reference(reference)
    if ref is None:
        return None
    if ref.lead_id is not None:
        return await conn.fetchrow(f"SELECT {_LEAD_COLUMNS} FROM leads WHERE id = $1", ref.lead_id)
    return await conn.fetchrow(
        f"SELECT {_LEAD_COLUMNS} FROM leads WHERE airtable_record_id = $1", ref.airtable_id
    )


_LOCK_BY_AIRTABLE_ID = "SELECT id FROM leads WHERE airtable_record_id = $1 FOR UPDATE"


async def upsert_details(
    conn: asyncpg.Connection, airtable_id: str, details: dict[str, Any]
) -> tuple[asyncpg.Record, bool]:
    """Create the lead or set the given detail fields (others keep their value); fills stubs.

    Returns the row and whether it was created. An existing lead stays locked FOR UPDATE
    until the caller's transaction ends, so its events can be moved with it.
    """
    unknown = set(details) - set(LEAD_DETAIL_FIELDS)
    if unknown:
        raise ValueError(f"not lead detail fields: {sorted(unknown)}")
    values = [details.get(name) for name in LEAD_DETAIL_FIELDS]
    # FOR UPDATE, the one row lock that waits for batches reading the lead FOR KEY SHARE
    # (an UPDATE of client_id alone would not), and taken before any change: a batch
    # holding KEY SHARE may still need to UPDATE last_activity_at on this row.
    lead_id = await conn.fetchval(_LOCK_BY_AIRTABLE_ID, airtable_id)
    if lead_id is None:
        created = await conn.fetchrow(
            f"""
            INSERT INTO leads
                (airtable_record_id, client_id, first_name, last_name, email, phone, status)
            VALUES ($1, $2, coalesce($3, ''), coalesce($4, ''), $5, $6, $7)
            ON CONFLICT (airtable_record_id) DO NOTHING
            RETURNING {_LEAD_COLUMNS}
            """,
            airtable_id,
            *values,
        )
        if created is not None:
            return created, True
        # A batch created it as a stub meanwhile; the conflict waited for its commit.
        lead_id = await conn.fetchval(_LOCK_BY_AIRTABLE_ID, airtable_id)
        assert lead_id is not None
    record = await conn.fetchrow(
        f"""
        UPDATE leads AS l SET
            client_id = CASE WHEN 'client_id' = ANY($8) THEN $2 ELSE l.client_id END,
            first_name = CASE WHEN 'first_name' = ANY($8)
                THEN coalesce($3, '') ELSE l.first_name END,
            last_name = CASE WHEN 'last_name' = ANY($8)
                THEN coalesce($4, '') ELSE l.last_name END,
            email = CASE WHEN 'email' = ANY($8) THEN $5 ELSE l.email END,
            phone = CASE WHEN 'phone' = ANY($8) THEN $6 ELSE l.phone END,
            status = CASE WHEN 'status' = ANY($8) THEN $7 ELSE l.status END,
            updated_at = now()
        WHERE l.id = $1
        RETURNING {_LEAD_COLUMNS}
        """,
        lead_id,
        *values,
        list(details),
    )
    assert record is not None
    return record, False
