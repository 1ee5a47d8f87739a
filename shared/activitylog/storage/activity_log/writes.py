"""Writes to the `lead_activity_log` table: the idempotent batch insert and client moves."""

from __future__ import annotations

import uuid
from datetime import datetime
from operator import itemgetter
from typing import Any

import asyncpg

from activitylog.domain.followers import LogPlace
from activitylog.domain.records import ActivityRow, MovedEvent, StoredFact

COLUMNS = (
    "id",
    "event_type",
    "event_category",
    "lead_id",
    "lead_airtable_id",
    "client_id",
    "description",
    "message_content",
    "metadata",
    "source",
    "execution_id",
    "created_by",
    "timestamp",
)


# The fallback when COPY meets an id already stored: skips what is there, says what was new.
_INSERT = """
INSERT INTO lead_activity_log (
    id, event_type, event_category, lead_id, lead_airtable_id, client_id, description,
    message_content, metadata, source, execution_id, created_by, "timestamp", created_at
)
SELECT * FROM unnest(
    $1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::uuid[], $7::text[],
    $8::text[], $9::jsonb[], $10::text[], $11::text[], $12::uuid[], $13::timestamptz[],
    $14::timestamptz[]
)
ON CONFLICT DO NOTHING
RETURNING id
"""


# The id registry first (migration 0019): the log's key is (id, "timestamp"), unique per
# month only, so an event id is claimed here, across every month, archived ones included.
# It also says whether `partitions migrate` is still copying, in the same round trip (an
# InitPlan: looked up once per batch, not per row).
_CLAIM = """
WITH claimed AS (
    INSERT INTO lead_activity_ids (id, "timestamp")
    SELECT * FROM unnest($1::uuid[], $2::timestamptz[])
    ON CONFLICT (id) DO NOTHING
    RETURNING id
)
SELECT id, (SELECT to_regclass('lead_activity_log_partitioned') IS NOT NULL) AS migrating
FROM claimed
"""


async def insert_rows(
    conn: asyncpg.Connection, rows: list[ActivityRow], arrived_at: datetime
) -> set[uuid.UUID]:
    """Insert idempotently, every row arriving at `arrived_at`; return the ids that were new.

    The ids are claimed in the registry first; only rows whose id was new are written, by
    COPY, the fastest path by far. Only while `partitions migrate` has not copied the old
    table's ids into the registry yet can a COPY meet a stored id: then it runs in a
    savepoint, and one that fails goes through INSERT … ON CONFLICT DO NOTHING instead.
    One arrival time per batch, decided here, is what the counters count it under too.
    """
    if not rows:
        return set()
    # In id order, so concurrent batches take index locks in one order: no deadlocks.
    records = sorted(((*_as_tuple(r), arrived_at) for r in rows), key=itemgetter(0))
    found = await conn.fetch(_CLAIM, [r[0] for r in records], [r[12] for r in records])
    claimed = {r["id"] for r in found}
    records = [r for r in records if r[0] in claimed]
    if not records:
        return set()
    columns = (*COLUMNS, "created_at")
    if not found[0]["migrating"]:
        # Every id was new to the registry, which holds every stored id: the COPY cannot
        # meet one, so it needs no savepoint (two round trips fewer per batch).
        await conn.copy_records_to_table("lead_activity_log", records=records, columns=columns)
        return claimed
    try:
        async with conn.transaction():  # a savepoint: a duplicate undoes only the COPY
            await conn.copy_records_to_table("lead_activity_log", records=records, columns=columns)
        return claimed
    except asyncpg.UniqueViolationError:
        pass
    inserted = await conn.fetch(_INSERT, *zip(*records, strict=True))
    return {r["id"] for r in inserted}


def _as_tuple(row: ActivityRow) -> tuple[Any, ...]:
    return (
        row.id,
        row.event_type,
        row.event_category,
        row.lead_id,
        row.lead_airtable_id,
        row.client_id,
        row.description,
        row.message_content,
        row.metadata,
        row.source,
        row.execution_id,
        row.created_by,
        row.timestamp,
    )


async def _located(
    conn: asyncpg.Connection, ids: list[uuid.UUID]
) -> tuple[list[uuid.UUID], list[datetime], bool]:
    """The registry's ids among `ids` and their times, and whether `partitions migrate` is
    still copying (then the registry lacks ids the old table holds)."""
    row = await conn.fetchrow(
        """
        SELECT coalesce(array_agg(id), '{}') AS ids,
               coalesce(array_agg("timestamp"), '{}') AS times,
               to_regclass('lead_activity_log_partitioned') IS NOT NULL AS migrating
        FROM lead_activity_ids WHERE id = ANY($1::uuid[])
        """,
        ids,
    )
    assert row is not None
    return list(row["ids"]), list(row["times"]), bool(row["migrating"])


async def stored_ids(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The ids among `ids` already stored (archived months included: the registry)."""
    if not ids:
        return set()
    found, _, migrating = await _located(conn, ids)
    if migrating:
        rows = await conn.fetch("SELECT id FROM lead_activity_log WHERE id = ANY($1::uuid[])", ids)
        found += [r["id"] for r in rows]
    return set(found)


async def facts_by_id(
    conn: asyncpg.Connection, ids: list[uuid.UUID]
) -> dict[uuid.UUID, StoredFact]:
    """The stored events among `ids` (a message's facts, by their derived ids)."""
    if not ids:
        return {}
    found, times, migrating = await _located(conn, ids)
    if not found and not migrating:
        return {}
    # Each event's time from the registry: the read opens only the months that hold them.
    where = (
        "id = ANY($1::uuid[])"
        if migrating
        else ('id = ANY($1::uuid[]) AND "timestamp" = ANY($2::timestamptz[])')
    )
    args: list[Any] = [ids] if migrating else [found, times]
    rows = await conn.fetch(
        f"""
        SELECT id, lead_id, lead_airtable_id, client_id, metadata->>'campaignId' AS campaign
        FROM lead_activity_log WHERE {where}
        """,
        *args,
    )
    return {r["id"]: StoredFact(*r) for r in rows}


async def fill_campaigns(conn: asyncpg.Connection, campaigns: dict[uuid.UUID, str]) -> None:
    """Give stored facts that name no campaign the campaign of their send (learnt later)."""
    if not campaigns:
        return
    ids = sorted(campaigns)
    await conn.execute(
        """
        UPDATE lead_activity_log AS a
        SET metadata = coalesce(a.metadata, '{}'::jsonb)
                       || jsonb_build_object('campaignId', c.campaign)
        FROM unnest($1::uuid[], $2::text[]) AS c(id, campaign)
        WHERE a.id = c.id AND NOT coalesce(a.metadata ? 'campaignId', false)
        """,
        ids,
        [campaigns[i] for i in ids],
    )


async def reassign_client(
    conn: asyncpg.Connection, owners: dict[uuid.UUID, uuid.UUID | None]
) -> list[MovedEvent]:
    """Give every event of each lead that lead's client (`owners`: lead id → client).

    A lead's events follow it: moved to another client, or filled in when a stub lead gets
    its client. Returns the events that changed (the self-join reads the old client).
    """
    if not owners:
        return []
    ids = sorted(owners)
    rows = await conn.fetch(
        """
        UPDATE lead_activity_log AS a SET client_id = v.client_id
        FROM unnest($1::uuid[], $2::uuid[]) AS v(lead_id, client_id), lead_activity_log AS old
        WHERE a.lead_id = v.lead_id AND old.id = a.id AND old."timestamp" = a."timestamp"
          AND a.client_id IS DISTINCT FROM v.client_id
        RETURNING a."timestamp", a.event_type, a.event_category, old.client_id AS old_client,
                  a.client_id AS new_client, a.tx::text::bigint AS tx, a.position
        """,
        ids,
        [owners[i] for i in ids],
    )
    return [
        MovedEvent(*r[:5], LogPlace(r["tx"], r["position"]) if r["tx"] is not None else None)
        for r in rows
    ]


async def count_for_lead(conn: asyncpg.Connection, lead_id: uuid.UUID) -> int:
    return int(
        await conn.fetchval("SELECT count(*) FROM lead_activity_log WHERE lead_id = $1", lead_id)
    )


async def delete_for_lead(conn: asyncpg.Connection, lead_id: uuid.UUID) -> list[asyncpg.Record]:
    """Delete a lead's every event (a purge); returns what the counters need of each, with
    its place in the log (tx NULL: stored before the followers)."""
    return await conn.fetch(
        """
        WITH gone AS (
            DELETE FROM lead_activity_log WHERE lead_id = $1
            RETURNING id, event_type, event_category, source, client_id, "timestamp",
                      created_at, tx::text::bigint AS tx, position
        ), unclaimed AS (
            -- A purged event is gone, not archived: sent again, it is stored again.
            DELETE FROM lead_activity_ids WHERE id IN (SELECT id FROM gone)
        )
        SELECT event_type, event_category, source, client_id, "timestamp", created_at, tx,
               position
        FROM gone
        """,
        lead_id,
    )


async def delete_of_leads(conn: asyncpg.Connection, lead_ids: list[uuid.UUID]) -> int:
    """Delete every event of these leads (removing the demo history); returns how many."""
    return int(
        await conn.fetchval(
            """
            WITH gone AS (
                DELETE FROM lead_activity_log WHERE lead_id = ANY($1::uuid[]) RETURNING id
            ), unclaimed AS (
                DELETE FROM lead_activity_ids WHERE id IN (SELECT id FROM gone)
            )
            SELECT count(*) FROM gone
            """,
            lead_ids,
        )
    )
