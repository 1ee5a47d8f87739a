"""The event counters follow the log: each step adds up the rows stored since the last one
(activitylog.domain.followers says which rows, activitylog.domain.counters.rollups what they
add to), in one transaction that moves the follower's cursor. The retry service runs the
steps; replicas take turns (the cursor row is locked FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from activitylog.storage import event_counts, log_followers
from activitylog.storage.log_followers import Follower

# Rows per step: one statement reads and adds them up; a few thousand keep it short.
STEP_ROWS = 5_000


async def step(conn: asyncpg.Connection, limit: int = STEP_ROWS) -> int:
    """Take in up to `limit` rows; returns how many (0: caught up, or another replica's turn)."""
    async with conn.transaction():
        cursor = await log_followers.take_turn(conn, Follower.COUNTERS)
        if cursor is None:
            return 0
        done = await event_counts.follow(conn, cursor, limit)
        if done.last is not None:
            await log_followers.advance(conn, Follower.COUNTERS, done.last, done.arrived_at)
        return done.rows


async def catch_up(
    conn: asyncpg.Connection,
    *,
    timeout: float = 60.0,  # noqa: ASYNC109 - a deadline over many steps, not one await
) -> int:
    """Take in every row stored before the call; returns how many. A row of a transaction
    that began before one still running elsewhere waits for it to end: this polls until
    then, failing after `timeout` seconds."""
    total = 0
    deadline = time.monotonic() + timeout
    target = await log_followers.newest_place(conn)
    while True:
        taken = await step(conn)
        total += taken
        if taken:
            continue
        cursor = (await log_followers.cursors(conn))[Follower.COUNTERS]
        if target is None or target <= cursor:
            return total
        if time.monotonic() > deadline:
            raise TimeoutError(f"the counters did not reach {target} (at {cursor})")
        await asyncio.sleep(0.01)
