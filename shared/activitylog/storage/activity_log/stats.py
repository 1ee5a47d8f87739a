"""Exact figures over the `lead_activity_log` table itself, for tests and benchmarks.

What the services show (health, charts, totals) comes from the counters (`event_counts`),
whose cost does not grow with the log.
"""

from __future__ import annotations

import asyncpg


async def count_all(conn: asyncpg.Connection) -> int:
    """Exact number of stored events (tests and benchmarks; the API caps its own counts)."""
    return int(await conn.fetchval("SELECT count(*) FROM lead_activity_log"))
