"""SQL for the `event_counts` table: counters the write path keeps, compaction, rebuild, reads.

What each rollup counts is decided in `activitylog.counters.rollups`; the rebuild below
spells the same rollups in SQL, and a test holds the two to exact agreement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from activitylog.counters.rollups import Basis, CounterKey, Cutoffs, Grain

# Writers spread over this many rows per counter (by backend), so two batches committing
# at once rarely wait on the same row; readers sum the shards.
SHARDS = 4

# Compaction and rebuild take this lock for their transaction, so replicas take turns.
_COMPACTION_LOCK = 0x1EAD_C0DE


async def add(conn: asyncpg.Connection, counts: dict[CounterKey, int]) -> None:
    """Add to the counters, in the caller's transaction (the batch's own)."""
    keys = sorted((k for k, n in counts.items() if n), key=CounterKey.order)  # no deadlocks
    if not keys:
        return
    await conn.execute(
        f"""
        INSERT INTO event_counts AS c
            (basis, grain, bucket, category, event_type, source, client_id, shard, n)
        SELECT b, g, t, cat, typ, src, cli, (pg_backend_pid() % {SHARDS})::smallint, n
        FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                    $6::text[], $7::uuid[], $8::bigint[]) AS v(b, g, t, cat, typ, src, cli, n)
        ON CONFLICT ON CONSTRAINT event_counts_key DO UPDATE SET n = c.n + EXCLUDED.n
        """,
        [k.basis.value for k in keys],
        [k.grain.value for k in keys],
        [k.bucket for k in keys],
        [k.category for k in keys],
        [k.event_type for k in keys],
        [k.source for k in keys],
        [k.client_id for k in keys],
        [counts[k] for k in keys],
    )


@dataclass(frozen=True, slots=True)
class Compacted:
    minutes_dropped: int
    hours_rolled: int
    skipped: bool = False  # another replica was compacting


async def compact(conn: asyncpg.Connection, cutoffs: Cutoffs) -> Compacted:
    """Drop arrival minutes before the cutoff (their hours hold them) and roll hours before
    the other cutoff into days, shards merged. Idempotent; one replica at a time."""
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _COMPACTION_LOCK):
            return Compacted(0, 0, skipped=True)
        return await _compact(conn, cutoffs)


async def _compact(conn: asyncpg.Connection, cutoffs: Cutoffs) -> Compacted:
    dropped = await conn.execute(
        "DELETE FROM event_counts WHERE basis = 'arrival' AND grain = 'minute' AND bucket < $1",
        cutoffs.minutes_before,
    )
    rolled = await conn.fetchval(
        """
        WITH gone AS (
            DELETE FROM event_counts
            WHERE grain = 'hour'
              AND ((basis = 'event' AND bucket < $1) OR (basis = 'arrival' AND bucket < $2))
            RETURNING basis, bucket, category, event_type, source, client_id, n
        ), days AS (
            INSERT INTO event_counts AS c
                (basis, grain, bucket, category, event_type, source, client_id, shard, n)
            SELECT basis, 'day', date_trunc('day', bucket, 'UTC'), category, event_type,
                   source, client_id, 0, sum(n)
            FROM gone
            GROUP BY basis, date_trunc('day', bucket, 'UTC'), category, event_type, source,
                     client_id
            ON CONFLICT ON CONSTRAINT event_counts_key DO UPDATE SET n = c.n + EXCLUDED.n
        )
        SELECT count(*) FROM gone
        """,
        cutoffs.hours_before,
        cutoffs.arrival_hours_before,
    )
    # A client move can leave a counter at zero; it says nothing.
    await conn.execute("DELETE FROM event_counts WHERE n = 0")
    return Compacted(int(dropped.rsplit(" ", 1)[-1]), int(rolled))


async def rebuild(conn: asyncpg.Connection, cutoffs: Cutoffs) -> int:
    """Recount everything from the log, then compact at `cutoffs`; returns the events counted.

    Writers wait meanwhile (the log is locked in SHARE mode), so the result is exact.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _COMPACTION_LOCK)
        await conn.execute("LOCK TABLE lead_activity_log IN SHARE MODE")
        await conn.execute("LOCK TABLE event_counts IN EXCLUSIVE MODE")
        await conn.execute("DELETE FROM event_counts")
        await conn.execute(
            """
            INSERT INTO event_counts (basis, grain, bucket, category, source, n)
            SELECT 'arrival', 'minute', date_trunc('minute', created_at, 'UTC'), event_category,
                   source, count(*)
            FROM lead_activity_log WHERE created_at >= $1
            GROUP BY 3, 4, 5
            """,
            cutoffs.minutes_before,
        )
        await conn.execute(
            """
            INSERT INTO event_counts (basis, grain, bucket, category, source, n)
            SELECT 'arrival', 'hour', date_trunc('hour', created_at, 'UTC'), event_category,
                   source, count(*)
            FROM lead_activity_log
            GROUP BY 3, 4, 5
            """
        )
        await conn.execute(
            """
            INSERT INTO event_counts (basis, grain, bucket, category, event_type, client_id, n)
            SELECT 'event', 'hour', date_trunc('hour', "timestamp", 'UTC'), event_category,
                   event_type, client_id, count(*)
            FROM lead_activity_log
            GROUP BY 3, 4, 5, 6
            """
        )
        await _compact(conn, cutoffs)
        return int(
            await conn.fetchval(
                "SELECT coalesce(sum(n), 0) FROM event_counts WHERE basis = 'event'"
            )
        )


# -- Reads ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arrivals:
    """Events stored in the given minute and hour windows, and the newest arrival's minute."""

    in_minutes: int
    in_hours: int
    last_minute: datetime | None


async def arrivals(
    conn: asyncpg.Connection, minutes_since: datetime, hours_since: datetime
) -> Arrivals:
    """Arrivals from `minutes_since` (minute counters) and from `hours_since` (hours)."""
    row = await conn.fetchrow(
        """
        SELECT coalesce(sum(n) FILTER (WHERE grain = 'minute' AND bucket >= $1), 0) AS minutes,
               coalesce(sum(n) FILTER (WHERE grain = 'hour' AND bucket >= $2), 0) AS hours,
               (SELECT max(bucket) FROM event_counts
                WHERE basis = 'arrival' AND grain = 'minute') AS last_minute
        FROM event_counts
        WHERE basis = 'arrival'
          AND ((grain = 'minute' AND bucket >= $1) OR (grain = 'hour' AND bucket >= $2))
        """,
        minutes_since,
        hours_since,
    )
    assert row is not None
    return Arrivals(int(row["minutes"]), int(row["hours"]), row["last_minute"])


async def per_bucket(
    conn: asyncpg.Connection, grain: Grain, since: datetime, until: datetime
) -> list[asyncpg.Record]:
    """Events per UTC hour or day and category by event time, in [since, until).

    Rows (bucket_start, event_category, n); empty buckets are absent. Bounds must fall on
    the grain's boundaries (a day counter cannot be split into hours).
    """
    if grain is Grain.MINUTE:
        raise ValueError("event-time counters are kept per hour and per day")
    return list(
        await conn.fetch(
            """
            SELECT date_trunc($1, bucket, 'UTC') AS bucket_start, category AS event_category,
                   sum(n)::bigint AS n
            FROM event_counts
            WHERE basis = 'event' AND bucket >= $2 AND bucket < $3
            GROUP BY 1, 2
            HAVING sum(n) <> 0
            """,
            grain.value,
            since,
            until,
        )
    )


async def totals_by_category(
    conn: asyncpg.Connection,
    *,
    client_id: uuid.UUID | None = None,
    event_types: tuple[str, ...] = (),
) -> dict[str, int]:
    """All stored events per category, optionally of one client and some types."""
    rows = await conn.fetch(
        """
        SELECT category, sum(n)::bigint AS n FROM event_counts
        WHERE basis = $1
          AND ($2::uuid IS NULL OR client_id = $2)
          AND (cardinality($3::text[]) = 0 OR event_type = ANY($3::text[]))
        GROUP BY category
        """,
        Basis.EVENT.value,
        client_id,
        list(event_types),
    )
    return {r["category"]: int(r["n"]) for r in rows}


async def last_arrivals(conn: asyncpg.Connection, since: datetime) -> dict[str, datetime]:
    """Per source that stored events since `since`: the end of the finest bucket holding its
    newest arrival (minutes for the last two days, then hours, then days), so a silence
    measured from it is never longer than the real one."""
    rows = await conn.fetch(
        """
        SELECT source,
               max(bucket) FILTER (WHERE grain = 'minute') + interval '1 minute' AS minute,
               max(bucket) FILTER (WHERE grain = 'hour') + interval '1 hour' AS hour,
               max(bucket) FILTER (WHERE grain = 'day') + interval '1 day' AS day
        FROM event_counts
        WHERE basis = 'arrival' AND bucket >= $1 AND source IS NOT NULL
        GROUP BY source
        HAVING sum(n) > 0
        """,
        since,
    )
    return {r["source"]: r["minute"] or r["hour"] or r["day"] for r in rows}


async def arrivals_by_source_hour(
    conn: asyncpg.Connection, hours: list[datetime]
) -> dict[tuple[str, datetime], int]:
    """Events stored per (source, UTC hour) in the given hours; absent means none."""
    rows = await conn.fetch(
        """
        SELECT source, bucket, sum(n)::bigint AS n FROM event_counts
        WHERE basis = 'arrival' AND grain = 'hour' AND bucket = ANY($1::timestamptz[])
          AND source IS NOT NULL
        GROUP BY source, bucket
        """,
        hours,
    )
    return {(r["source"], r["bucket"]): int(r["n"]) for r in rows}


async def arrivals_by_source_category(
    conn: asyncpg.Connection, since: datetime, until: datetime
) -> dict[tuple[str, str], int]:
    """Events stored per (source, category) in [since, until), from the minute counters."""
    rows = await conn.fetch(
        """
        SELECT source, category, sum(n)::bigint AS n FROM event_counts
        WHERE basis = 'arrival' AND grain = 'minute' AND bucket >= $1 AND bucket < $2
          AND source IS NOT NULL
        GROUP BY source, category
        HAVING sum(n) <> 0
        """,
        since,
        until,
    )
    return {(r["source"], r["category"]): int(r["n"]) for r in rows}
