"""Statistics over the `lead_activity_log` table: arrivals for health, buckets for charts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


async def count_all(conn: asyncpg.Connection) -> int:
    """Exact number of stored events (tests and benchmarks; the API caps its own counts)."""
    return int(await conn.fetchval("SELECT count(*) FROM lead_activity_log"))


@dataclass(frozen=True, slots=True)
class Arrivals:
    """Events stored (by arrival time) in the last hour and day, and the newest arrival."""

    last_hour: int
    last_24h: int
    last_stored_at: datetime | None


async def arrival_counts(conn: asyncpg.Connection) -> Arrivals:
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE created_at >= now() - interval '1 hour') AS last_hour,
               count(*) AS last_24h,
               max(created_at) AS newest
        FROM lead_activity_log
        WHERE created_at >= now() - interval '24 hours'
        """
    )
    assert row is not None
    newest = row["newest"]
    if newest is None:
        # Nothing in a day: the newest event by its own time is close enough and indexed.
        newest = await conn.fetchval(
            'SELECT created_at FROM lead_activity_log ORDER BY "timestamp" DESC, id DESC LIMIT 1'
        )
    return Arrivals(int(row["last_hour"]), int(row["last_24h"]), newest)


async def counts_per_bucket(
    conn: asyncpg.Connection, bucket: str, since: datetime, until: datetime
) -> list[asyncpg.Record]:
    """Events per UTC `bucket` ('hour' or 'day') and category by event time, in [since, until).

    Rows (bucket_start, event_category, n); buckets without events are absent.
    """
    if bucket not in ("hour", "day"):
        raise ValueError(f"bucket must be 'hour' or 'day', not {bucket!r}")
    return list(
        await conn.fetch(
            """
            SELECT date_trunc($1, "timestamp", 'UTC') AS bucket_start, event_category,
                   count(*) AS n
            FROM lead_activity_log
            WHERE "timestamp" >= $2 AND "timestamp" < $3
            GROUP BY 1, 2
            """,
            bucket,
            since,
            until,
        )
    )
