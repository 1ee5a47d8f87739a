"""SQL for the portal's `sms_audit` table (the portal's database, read only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from activitylog.domain.sms_audit.rows import PORTAL_COLUMNS

_SELECT = f"SELECT {', '.join(PORTAL_COLUMNS)} FROM sms_audit"  # fixed column names


async def count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM sms_audit"))


async def chunks(conn: asyncpg.Connection, size: int) -> AsyncIterator[list[dict[str, Any]]]:
    """Every row, `size` at a time through a server-side cursor (in one read-only
    transaction, so the table is read as of one moment however long it takes)."""
    async with conn.transaction(readonly=True, isolation="repeatable_read"):
        cursor = await conn.cursor(_SELECT)
        while True:
            rows = await cursor.fetch(size)
            if not rows:
                return
            yield [dict(r) for r in rows]
