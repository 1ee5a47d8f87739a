"""SQL for the `ui_secrets` table (signing secrets shared by every api replica)."""

from __future__ import annotations

import asyncpg


async def get_or_create(conn: asyncpg.Connection, name: str, candidate: str) -> str:
    """The secret called `name`; the first caller's `candidate` wins a race."""
    value = await conn.fetchval(
        """
        WITH made AS (
            INSERT INTO ui_secrets (name, value) VALUES ($1, $2)
            ON CONFLICT (name) DO NOTHING
            RETURNING value
        )
        SELECT value FROM made
        UNION ALL
        SELECT value FROM ui_secrets WHERE name = $1
        LIMIT 1
        """,
        name,
        candidate,
    )
    assert value is not None
    return str(value)
