"""SQL for the `event_counts` table: the follower's step that adds up the rows stored since
it last looked, compaction, rebuild, reads.

What each rollup counts is decided in `activitylog.domain.counters.rollups` (`ROLLUPS`); the
step, the rebuild and the readers spell the same rollups in SQL from that list, and a test
holds them to exact agreement. Readers add the rows the follower has not taken in yet
(`_live`), in the same statement, so a figure is exact whatever the follower's lag.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from activitylog.domain.counters.rollups import (
    ALL,
    ROLLUPS,
    Basis,
    CounterKey,
    Cutoffs,
    Grain,
    Rollup,
)
from activitylog.domain.followers import LogPlace
from activitylog.storage import log_followers
from activitylog.storage.log_followers import ENDED, Follower

# Writers spread over this many rows per counter (by backend), so two batches committing
# at once rarely wait on the same row; readers sum the shards.
SHARDS = 4

# Compaction and rebuild take this lock for their transaction, so replicas take turns.
_COMPACTION_LOCK = 0x1EAD_C0DE


_KEY_COLUMNS = "basis, grain, bucket, category, event_type, source, client_id"


def _key_row(rollup: Rollup, a: str) -> str:
    """One rollup's counter key for the log row `a`, as a VALUES row."""
    at = "created_at" if rollup.basis is Basis.ARRIVAL else '"timestamp"'
    category = f"{a}.event_category" if "category" in rollup.kept else f"'{ALL}'"
    event_type = f"{a}.event_type" if "event_type" in rollup.kept else "NULL"
    source = f"{a}.source" if "source" in rollup.kept else "NULL"
    client = f"{a}.client_id" if "client_id" in rollup.kept else "NULL"
    return (
        f"('{rollup.basis.value}'::text, '{rollup.grain.value}'::text, "
        f"date_trunc('{rollup.grain.value}', {a}.{at}, 'UTC'), {category}::text, "
        f"{event_type}::text, {source}::text, {client}::uuid)"
    )


def _keyed(a: str) -> str:
    """LATERAL: every counter key of the log row `a` (one per rollup)."""
    rows = ", ".join(_key_row(r, a) for r in ROLLUPS)
    return f"LATERAL (VALUES {rows}) AS k({_KEY_COLUMNS})"


# The follower's step: the next rows of ended transactions after the cursor, added to their
# counters (one upsert per counter, in key order), in one statement.
_FOLLOW = f"""
WITH tail AS MATERIALIZED (
    SELECT a.tx, a.position, a.created_at, a."timestamp", a.event_category, a.event_type,
           a.source, a.client_id
    FROM lead_activity_log AS a
    WHERE a.tx >= $1::text::xid8 AND (a.tx, a.position) > ($1::text::xid8, $2)
      AND {ENDED}
    ORDER BY a.tx, a.position
    LIMIT $3
), added AS (
    INSERT INTO event_counts AS c ({_KEY_COLUMNS}, shard, n)
    SELECT k.*, 0, count(*) FROM tail AS a CROSS JOIN {_keyed("a")}
    GROUP BY 1, 2, 3, 4, 5, 6, 7
    ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT ON CONSTRAINT event_counts_key DO UPDATE SET n = c.n + EXCLUDED.n
)
SELECT count(*) AS n, max(created_at) AS arrived_at,
       (array_agg(tx::text::bigint ORDER BY tx DESC, position DESC))[1] AS tx,
       (array_agg(position ORDER BY tx DESC, position DESC))[1] AS position
FROM tail
"""


@dataclass(frozen=True, slots=True)
class Followed:
    """What one step took in: rows, where the cursor goes, the newest arrival among them."""

    rows: int
    last: LogPlace | None
    arrived_at: datetime | None


async def follow(conn: asyncpg.Connection, cursor: LogPlace, limit: int) -> Followed:
    """Add up to `limit` rows after `cursor` to the counters (the caller holds the cursor and
    moves it to `last` in the same transaction)."""
    row = await conn.fetchrow(_FOLLOW, str(cursor.tx), cursor.position, limit)
    assert row is not None
    if not row["n"]:
        return Followed(0, None, None)
    return Followed(int(row["n"]), LogPlace(row["tx"], row["position"]), row["arrived_at"])


def _live(where: str) -> str:
    """The counters as readers see them: `event_counts` plus, counted on the fly, the rows
    the follower has not taken in yet (migration 0023: a plan each session keeps), both
    filtered by `where` (over the key columns)."""
    return f"""(
        SELECT {_KEY_COLUMNS}, n FROM event_counts WHERE {where}
        UNION ALL
        SELECT * FROM (
            SELECT k.*, 1::bigint AS n
            FROM counters_untaken() AS a CROSS JOIN {_keyed("a")}
        ) AS tail WHERE {where}
    )"""


async def add(conn: asyncpg.Connection, counts: dict[CounterKey, int]) -> None:
    """Add to the counters, in the caller's transaction (client moves and purges of rows the
    follower has taken in; seeding in tests)."""
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
    days_rolled: int = 0
    skipped: bool = False  # another replica was compacting


async def compact(conn: asyncpg.Connection, cutoffs: Cutoffs) -> Compacted:
    """Drop arrival minutes before the cutoff (their hours hold them), roll hours before
    their cutoffs into days and event days before theirs into months, shards merged.
    Idempotent; one replica at a time."""
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _COMPACTION_LOCK):
            return Compacted(0, 0, skipped=True)
        return await _compact(conn, cutoffs)


async def _roll(conn: asyncpg.Connection, where: str, into: Grain, *cutoffs: datetime) -> int:
    """Move the counters `where` selects into `into`'s buckets (summed, shards merged);
    returns how many rows were rolled."""
    return int(
        await conn.fetchval(
            f"""
            WITH gone AS (
                DELETE FROM event_counts WHERE {where}
                RETURNING basis, bucket, category, event_type, source, client_id, n
            ), rolled AS (
                INSERT INTO event_counts AS c ({_KEY_COLUMNS}, shard, n)
                SELECT basis, '{into.value}', date_trunc('{into.value}', bucket, 'UTC'),
                       category, event_type, source, client_id, 0, sum(n)
                FROM gone
                GROUP BY basis, date_trunc('{into.value}', bucket, 'UTC'), category,
                         event_type, source, client_id
                ON CONFLICT ON CONSTRAINT event_counts_key DO UPDATE SET n = c.n + EXCLUDED.n
            )
            SELECT count(*) FROM gone
            """,
            *cutoffs,
        )
    )


async def _compact(conn: asyncpg.Connection, cutoffs: Cutoffs) -> Compacted:
    dropped = await conn.execute(
        "DELETE FROM event_counts WHERE basis = 'arrival' AND grain = 'minute' AND bucket < $1",
        cutoffs.minutes_before,
    )
    rolled = await _roll(
        conn,
        "grain = 'hour' AND ((basis = 'event' AND bucket < $1) OR "
        "(basis = 'arrival' AND bucket < $2))",
        Grain.DAY,
        cutoffs.hours_before,
        cutoffs.arrival_hours_before,
    )
    # After the hours, so that an old hour (a backfill) reaches its month in one pass.
    days = await _roll(
        conn, "basis = 'event' AND grain = 'day' AND bucket < $1", Grain.MONTH, cutoffs.days_before
    )
    # A client move can leave a counter at zero; it says nothing.
    await conn.execute("DELETE FROM event_counts WHERE n = 0")
    return Compacted(int(dropped.rsplit(" ", 1)[-1]), rolled, days)


async def rebuild(conn: asyncpg.Connection, cutoffs: Cutoffs) -> int:
    """Recount everything from the log, then compact at `cutoffs`; returns the events counted.

    Writers wait meanwhile (the log is locked in SHARE mode), so the result is exact. Rows of
    transactions still running elsewhere are left to the follower: the rebuild counts the
    rows below the horizon and puts the follower's cursor there.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _COMPACTION_LOCK)
        await log_followers.wait_turn(conn, Follower.COUNTERS)
        await conn.execute("LOCK TABLE lead_activity_log IN SHARE MODE")
        await conn.execute("LOCK TABLE event_counts IN EXCLUSIVE MODE")
        await conn.execute("DELETE FROM event_counts")
        horizon = await log_followers.reset_to_horizon(conn, Follower.COUNTERS)
        for rollup in ROLLUPS:
            recent = (
                "AND created_at >= $2"
                if rollup.basis is Basis.ARRIVAL and rollup.grain is Grain.MINUTE
                else "AND $2::timestamptz IS NOT NULL"
            )
            await conn.execute(
                f"""
                INSERT INTO event_counts AS c ({_KEY_COLUMNS}, n)
                SELECT k.*, count(*)
                FROM lead_activity_log AS a CROSS JOIN LATERAL (VALUES {_key_row(rollup, "a")})
                    AS k({_KEY_COLUMNS})
                WHERE (a.tx IS NULL OR a.tx < $1::text::xid8) {recent}
                GROUP BY 1, 2, 3, 4, 5, 6, 7
                """,
                str(horizon),
                cutoffs.minutes_before,
            )
        await _compact(conn, cutoffs)
        live = _live(f"basis = '{Basis.EVENT.value}'")
        return int(await conn.fetchval(f"SELECT coalesce(sum(n), 0) FROM {live} AS c"))


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
    """Arrivals from `minutes_since` (minute counters) and from `hours_since` (hours), from
    the all-events totals: a row per minute and hour, however many sources report."""
    live = _live(
        f"basis = 'arrival' AND category = '{ALL}' "
        "AND ((grain = 'minute' AND bucket >= $1) OR (grain = 'hour' AND bucket >= $2))"
    )
    row = await conn.fetchrow(
        f"""
        SELECT coalesce(sum(n) FILTER (WHERE grain = 'minute'), 0) AS minutes,
               coalesce(sum(n) FILTER (WHERE grain = 'hour'), 0) AS hours,
               max(bucket) FILTER (WHERE grain = 'minute') AS last_minute
        FROM {live} AS c
        """,
        minutes_since,
        hours_since,
    )
    assert row is not None
    last_minute = row["last_minute"]
    if last_minute is None:  # nothing in the last day: the newest minute kept, if any
        last_minute = await conn.fetchval(
            f"""
            SELECT max(bucket) FROM event_counts
            WHERE basis = 'arrival' AND grain = 'minute' AND category = '{ALL}'
            """
        )
    return Arrivals(int(row["minutes"]), int(row["hours"]), last_minute)


async def per_bucket(
    conn: asyncpg.Connection, grain: Grain, since: datetime, until: datetime
) -> list[asyncpg.Record]:
    """Events per UTC hour or day and category by event time, in [since, until).

    Rows (bucket_start, event_category, n); empty buckets are absent. Bounds must fall on
    the grain's boundaries (a day counter cannot be split into hours); days before the
    compaction's `days_before` (rollups.KEEP_DAYS) are kept per month only.
    """
    if grain is Grain.MINUTE:
        raise ValueError("event-time counters are kept per hour and per day")
    live = _live("basis = 'event' AND bucket >= $2 AND bucket < $3")
    return list(
        await conn.fetch(
            f"""
            SELECT date_trunc($1, bucket, 'UTC') AS bucket_start, category AS event_category,
                   sum(n)::bigint AS n
            FROM {live} AS c
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
    live = _live(
        "basis = $1 AND ($2::uuid IS NULL OR client_id = $2) "
        "AND (cardinality($3::text[]) = 0 OR event_type = ANY($3::text[]))"
    )
    rows = await conn.fetch(
        f"""
        SELECT category, sum(n)::bigint AS n FROM {live} AS c
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
    live = _live("basis = 'arrival' AND bucket >= $1 AND source IS NOT NULL")
    rows = await conn.fetch(
        f"""
        SELECT source,
               max(bucket) FILTER (WHERE grain = 'minute') + interval '1 minute' AS minute,
               max(bucket) FILTER (WHERE grain = 'hour') + interval '1 hour' AS hour,
               max(bucket) FILTER (WHERE grain = 'day') + interval '1 day' AS day
        FROM {live} AS c
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
    live = _live(
        "basis = 'arrival' AND grain = 'hour' AND bucket = ANY($1::timestamptz[]) "
        "AND source IS NOT NULL"
    )
    rows = await conn.fetch(
        f"""
        SELECT source, bucket, sum(n)::bigint AS n FROM {live} AS c
        GROUP BY source, bucket
        """,
        hours,
    )
    return {(r["source"], r["bucket"]): int(r["n"]) for r in rows}


async def arrivals_by_source_category(
    conn: asyncpg.Connection, since: datetime, until: datetime
) -> dict[tuple[str, str], int]:
    """Events stored per (source, category) in [since, until), from the minute counters."""
    live = _live(
        "basis = 'arrival' AND grain = 'minute' AND bucket >= $1 AND bucket < $2 "
        "AND source IS NOT NULL"
    )
    rows = await conn.fetch(
        f"""
        SELECT source, category, sum(n)::bigint AS n FROM {live} AS c
        GROUP BY source, category
        HAVING sum(n) <> 0
        """,
        since,
        until,
    )
    return {(r["source"], r["category"]): int(r["n"]) for r in rows}
