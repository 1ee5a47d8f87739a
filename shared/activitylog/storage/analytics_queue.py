"""SQL of `analytics_queue`: what the write path stored and the analytics have yet to fold."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg


async def add(
    conn: asyncpg.Connection, entries: Sequence[tuple[uuid.UUID, uuid.UUID | None]]
) -> None:
    """Note (lead, event) pairs; an event of None stands for every campaign of the lead."""
    if entries:
        await conn.execute(
            """
            INSERT INTO analytics_queue (lead_id, event_id)
            SELECT * FROM unnest($1::uuid[], $2::uuid[])
            """,
            [lead for lead, _ in entries],
            [event for _, event in entries],
        )


async def add_recounts(conn: asyncpg.Connection, lead_ids: Sequence[uuid.UUID]) -> None:
    """Note leads whose facts must be counted again from the log (a fact learnt its
    campaign after it was counted)."""
    if lead_ids:
        await conn.execute(
            """
            INSERT INTO analytics_queue (lead_id, event_id, recount)
            SELECT id, NULL, true FROM unnest($1::uuid[]) AS id
            """,
            sorted(set(lead_ids)),
        )


async def take_of_leads(
    conn: asyncpg.Connection, lead_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID | None]:
    """Delete every note of these leads visible now (a recount covers their events)."""
    rows = await conn.fetch(
        "DELETE FROM analytics_queue WHERE lead_id = ANY($1::uuid[]) RETURNING event_id",
        sorted(set(lead_ids)),
    )
    return [r["event_id"] for r in rows]


async def take(
    conn: asyncpg.Connection, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID | None, bool]]:
    """Delete and return up to `limit` of the oldest notes (lead, event, recount), skipping
    those another keeper holds; the caller's transaction keeps them taken until it commits."""
    rows = await conn.fetch(
        """
        DELETE FROM analytics_queue
        WHERE seq IN (
            SELECT seq FROM analytics_queue ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        RETURNING lead_id, event_id, recount
        """,
        limit,
    )
    return [(r["lead_id"], r["event_id"], r["recount"]) for r in rows]


async def clear(conn: asyncpg.Connection) -> None:
    """Drop every note (a rebuild from the log covers them)."""
    await conn.execute("DELETE FROM analytics_queue")


async def length(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM analytics_queue"))
