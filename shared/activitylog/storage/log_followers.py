"""SQL of `log_followers` (each follower's cursor) and of reading the log in its order.

Which rows a follower may read and when it has taken one in is decided in
`activitylog.domain.followers`; this spells it: rows with `tx` below the oldest transaction
still running, in (tx, position) order, after the cursor.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import asyncpg

from activitylog.domain.followers import START, LogPlace


class Follower(StrEnum):
    COUNTERS = "counters"
    ANALYTICS = "analytics"


def after_cursor(follower: Follower, a: str = "a") -> str:
    """The rows of the log (alias `a`) after the follower's cursor: the ones it has not
    taken in. `tx >= …` lets the (tx, position) index find them (the planner evaluates the
    cursor functions of migration 0017 to estimate how few they are); the row comparison
    finishes it. The cursor is read in the caller's statement, so in its snapshot.
    Migration 0023's `counters_untaken()` spells the same for the counters' readers."""
    name = f"'{follower.value}'"
    return (
        f"{a}.tx >= log_follower_tx({name}) AND ({a}.tx, {a}.position) > "
        f"(log_follower_tx({name}), log_follower_position({name}))"
    )


# The horizon (xid8): every transaction below it that could write this database's log has
# ended. It is the statement snapshot's oldest transaction still running, leaving out the
# ones that sessions of other databases are running: they cannot write here, and one long
# transaction elsewhere on the server (a dump, a bulk load) would otherwise stall every
# follower. An id that `pg_stat_activity` no longer shows (it ended after the snapshot, or
# is a prepared transaction) is kept, so the horizon errs only towards waiting.
# `backend_xid` is 32 bits: running ids are within 2^31 of one another, so the low bits of
# the snapshot's xid8 name the same transaction.
HORIZON_TX = """(SELECT least(pg_snapshot_xmax(snap), (
        SELECT min(x) FROM pg_snapshot_xip(snap) AS x
        WHERE (x::text::bigint % 4294967296)::text NOT IN (
            SELECT backend_xid::text FROM pg_stat_activity
            WHERE backend_xid IS NOT NULL AND datname IS NOT NULL
              AND datname <> current_database())))
    FROM pg_current_snapshot() AS snap)"""
# ... and of those, the ones it may take in now: their transactions have all ended.
ENDED = f"a.tx < {HORIZON_TX}"


async def _ensure(conn: asyncpg.Connection) -> None:
    """Every follower's row (migration 0017 makes them; a truncated table, in tests, loses
    them: a follower without a row starts from the beginning)."""
    await conn.execute(
        "INSERT INTO log_followers (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
        [f.value for f in Follower],
    )


async def take_turn(conn: asyncpg.Connection, follower: Follower) -> LogPlace | None:
    """Lock the follower's cursor for this transaction (FOR UPDATE), or None when another
    replica holds it (its turn); the caller's transaction must be open."""
    sql = (
        "SELECT tx::text::bigint AS tx, position FROM log_followers WHERE name = $1 "
        "FOR UPDATE SKIP LOCKED"
    )
    row = await conn.fetchrow(sql, follower.value)
    if row is None and not await conn.fetchval(
        "SELECT 1 FROM log_followers WHERE name = $1", follower.value
    ):
        await _ensure(conn)
        row = await conn.fetchrow(sql, follower.value)
    return LogPlace(row["tx"], row["position"]) if row else None


async def wait_turn(conn: asyncpg.Connection, follower: Follower) -> LogPlace:
    """Lock the follower's cursor, waiting for a replica applying a step (rebuilds)."""
    return (await _lock(conn, "UPDATE", [follower]))[follower]


async def hold(conn: asyncpg.Connection, *followers: Follower) -> dict[Follower, LogPlace]:
    """Hold cursors still (FOR SHARE) for the caller's transaction, before changing rows a
    follower may have taken in (a client move, a purge, a merge); returns where they are."""
    return await _lock(conn, "SHARE", list(followers))


async def _lock(
    conn: asyncpg.Connection, mode: str, followers: list[Follower]
) -> dict[Follower, LogPlace]:
    names = sorted(f.value for f in followers)  # one order: no deadlocks between holders
    sql = f"""
        SELECT name, tx::text::bigint AS tx, position FROM log_followers
        WHERE name = ANY($1::text[]) ORDER BY name FOR {mode}
        """
    rows = await conn.fetch(sql, names)
    if len(rows) < len(names):
        await _ensure(conn)
        rows = await conn.fetch(sql, names)
    return {Follower(r["name"]): LogPlace(r["tx"], r["position"]) for r in rows}


async def advance(
    conn: asyncpg.Connection, follower: Follower, to: LogPlace, arrived_at: datetime | None
) -> None:
    """Move the cursor (in the step's transaction, which holds it)."""
    await conn.execute(
        """
        UPDATE log_followers
        SET tx = $2::text::xid8, position = $3, moved_at = now(),
            arrived_at = coalesce($4, arrived_at)
        WHERE name = $1
        """,
        follower.value,
        str(to.tx),
        to.position,
        arrived_at,
    )


async def reset_to_horizon(conn: asyncpg.Connection, follower: Follower) -> int:
    """Put the cursor where a rebuild counting every row of an ended transaction leaves it:
    before the oldest transaction still running. Returns that transaction id (the rebuild
    counts the rows below it). The caller holds the cursor and keeps writers out."""
    horizon = int(await conn.fetchval(f"SELECT {HORIZON_TX}::text::bigint"))
    await advance(conn, follower, LogPlace(horizon, 0), None)
    return horizon


async def untaken_since(conn: asyncpg.Connection, follower: Follower) -> datetime | None:
    """The arrival time of the first row the follower has not taken in (None: none)."""
    return await conn.fetchval(
        f"""
        SELECT min(a.created_at) FROM (
            SELECT a.created_at FROM lead_activity_log AS a
            WHERE {after_cursor(follower)}
            ORDER BY a.tx, a.position LIMIT 50
        ) AS a
        """
    )


async def untaken(conn: asyncpg.Connection, follower: Follower) -> int:
    """How many committed rows the follower has not taken in yet."""
    return int(
        await conn.fetchval(
            f"""
            SELECT count(*) FROM lead_activity_log AS a WHERE {after_cursor(follower)}
            """
        )
    )


async def cursors(conn: asyncpg.Connection) -> dict[Follower, LogPlace]:
    """Where each follower is (one that has no row yet is at the start)."""
    rows = await conn.fetch("SELECT name, tx::text::bigint AS tx, position FROM log_followers")
    found = {Follower(r["name"]): LogPlace(r["tx"], r["position"]) for r in rows}
    return {f: found.get(f, START) for f in Follower}


async def newest_place(conn: asyncpg.Connection) -> LogPlace | None:
    """The place of the last row visible now, in the followers' order (None: no row has one)."""
    row = await conn.fetchrow(
        """
        SELECT tx::text::bigint AS tx, position FROM lead_activity_log
        WHERE tx IS NOT NULL ORDER BY tx DESC, position DESC LIMIT 1
        """
    )
    return LogPlace(row["tx"], row["position"]) if row else None
