"""SQL that changes a lead's identity across tables: the locks an upsert takes, a lead
taking the portal's UUID as its id, and two leads merged into one (every row referencing a
lead follows it)."""

from __future__ import annotations

import uuid

import asyncpg

from activitylog.domain.leads.saving_plan import StoredIdentity
from activitylog.runtime.logs import get_logger

log = get_logger("activitylog.leads")


async def lock_identities(
    conn: asyncpg.Connection, ids: list[uuid.UUID], airtable_ids: list[str]
) -> list[StoredIdentity]:
    """The leads named by any of `ids` or `airtable_ids`, locked FOR UPDATE in id order.

    FOR UPDATE is the row lock that waits for batches holding FOR KEY SHARE on these leads,
    and that they wait for: no event goes in under a lead that is changing id or client.
    """
    rows = await conn.fetch(
        """
        SELECT id, airtable_record_id, client_id,
               (first_name = '' AND last_name = '' AND email IS NULL) AS is_stub
        FROM leads
        WHERE id = ANY($1::uuid[]) OR airtable_record_id = ANY($2::text[])
        ORDER BY id
        FOR UPDATE
        """,
        ids,
        airtable_ids,
    )
    return [StoredIdentity(*r) for r in rows]


_REFERENCES = """
SELECT c.conrelid::regclass::text AS tbl, format('%I', a.attname) AS col
FROM pg_constraint AS c
JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND c.confrelid = 'leads'::regclass AND cardinality(c.conkey) = 1
ORDER BY 1
"""

_EVENTS = "lead_activity_log"


async def repoint(conn: asyncpg.Connection, old: uuid.UUID, new: uuid.UUID) -> int:
    """Move every row referencing lead `old` (its events, and any other table with a foreign
    key to leads, found in the catalog so tables added later follow too) to lead `new`;
    returns how many events moved. A table holding one row per lead that already has the
    survivor's (a merge) keeps it: the absorbed lead's is left to its ON DELETE rule."""
    events = 0
    for ref in await conn.fetch(_REFERENCES):
        sql = f"UPDATE {ref['tbl']} SET {ref['col']} = $2 WHERE {ref['col']} = $1"
        try:
            async with conn.transaction():  # a savepoint: a clash undoes only this table
                status = await conn.execute(sql, old, new)
        except asyncpg.UniqueViolationError:
            log.warning("rows of a merged lead left behind", table=ref["tbl"], lead_id=str(old))
            continue
        if ref["tbl"] == _EVENTS:
            events = int(status.rsplit(" ", 1)[-1])
    return events


async def adopt_ids(
    conn: asyncpg.Connection, renames: list[tuple[uuid.UUID, uuid.UUID, str | None]]
) -> None:
    """Give leads new ids: (old id, new id — the portal's UUID, Airtable id), everything
    referencing them included. The rows must be locked (`lock_identities`).

    New rows and a move rather than an UPDATE of the key: not every table referencing
    leads says ON UPDATE CASCADE, and this way none has to. Set-based, for a first sync
    meeting thousands of stubs.
    """
    if not renames:
        return
    old, new, airtable = (list(column) for column in zip(*renames, strict=True))
    # The Airtable id is unique: off the old rows before the new ones take it.
    await conn.execute("UPDATE leads SET airtable_record_id = NULL WHERE id = ANY($1::uuid[])", old)
    await conn.execute(
        """
        INSERT INTO leads (id, airtable_record_id, client_id, first_name, last_name, email,
                           phone, status, last_activity_at, created_at, updated_at, deleted_at)
        SELECT v.new, v.airtable, l.client_id, l.first_name, l.last_name, l.email, l.phone,
               l.status, l.last_activity_at, l.created_at, now(), l.deleted_at
        FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS v(old, new, airtable)
        JOIN leads AS l ON l.id = v.old
        ORDER BY v.new
        """,
        old,
        new,
        airtable,
    )
    for ref in await conn.fetch(_REFERENCES):
        await conn.execute(
            f"""
            UPDATE {ref["tbl"]} AS t SET {ref["col"]} = v.new
            FROM unnest($1::uuid[], $2::uuid[]) AS v(old, new)
            WHERE t.{ref["col"]} = v.old
            """,
            old,
            new,
        )
    await conn.execute("DELETE FROM leads WHERE id = ANY($1::uuid[])", old)


async def absorb(conn: asyncpg.Connection, survivor: uuid.UUID, absorbed: uuid.UUID) -> None:
    """Fill the survivor's blank details from the absorbed lead, then delete that one (its
    events must have moved to the survivor already)."""
    await conn.execute(
        """
        UPDATE leads AS s SET
            first_name = CASE WHEN s.first_name = '' AND s.last_name = ''
                THEN a.first_name ELSE s.first_name END,
            last_name = CASE WHEN s.first_name = '' AND s.last_name = ''
                THEN a.last_name ELSE s.last_name END,
            email = coalesce(s.email, a.email),
            phone = coalesce(s.phone, a.phone),
            status = coalesce(s.status, a.status),
            client_id = coalesce(s.client_id, a.client_id),
            last_activity_at = greatest(s.last_activity_at, a.last_activity_at),
            created_at = least(s.created_at, a.created_at),
            -- Deleted only if both were.
            deleted_at = CASE WHEN a.deleted_at IS NULL THEN NULL ELSE s.deleted_at END,
            updated_at = now()
        FROM leads AS a
        WHERE s.id = $1 AND a.id = $2
        """,
        survivor,
        absorbed,
    )
    await conn.execute("DELETE FROM leads WHERE id = $1", absorbed)
