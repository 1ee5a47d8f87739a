"""SQL for the `lead_sync_state` table: how far each lead sync source has been read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class Mark:
    """The last source row synced, in (updated_at, id) order."""

    updated_at: datetime
    id: str


async def get_mark(conn: asyncpg.Connection, source: str) -> Mark | None:
    row = await conn.fetchrow(
        "SELECT synced_to, synced_id FROM lead_sync_state WHERE source = $1", source
    )
    return Mark(row["synced_to"], row["synced_id"]) if row else None


async def set_mark(conn: asyncpg.Connection, source: str, mark: Mark) -> None:
    """Record the mark, in the transaction that stored the rows up to it."""
    await conn.execute(
        """
        INSERT INTO lead_sync_state (source, synced_to, synced_id) VALUES ($1, $2, $3)
        ON CONFLICT (source) DO UPDATE
        SET synced_to = EXCLUDED.synced_to, synced_id = EXCLUDED.synced_id, updated_at = now()
        """,
        source,
        mark.updated_at,
        mark.id,
    )
