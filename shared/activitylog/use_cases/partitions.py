"""The log's monthly partitions: created ahead of time (and for events waiting in the default
partition), and an old unpartitioned log copied into them (docs/RUNBOOK.md §18)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from activitylog.domain.partitions import add_months, months_to_create, statistics_stale
from activitylog.storage.activity_log import partitions, statistics

# Replicas take turns (pg_try_advisory_xact_lock): one creates, the others find it done.
_MAINTAIN_LOCK = 0x1EAD_9A27
_ANALYZE_LOCK = 0x1EAD_9A29


async def maintain(conn: asyncpg.Connection, now: datetime, ahead: int) -> list[date] | None:
    """Create this month's partition and `ahead` after it, and those of months whose events
    wait in the default partition; returns the months created (None: another replica is at
    it, or the log is not partitioned yet)."""
    try:
        async with conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _MAINTAIN_LOCK):
                return None
            if (await partitions.migration_state(conn)).pending:
                return None
            wanted = months_to_create(
                await partitions.months(conn), now, ahead, await partitions.waiting_months(conn)
            )
            if not wanted:
                return []
            await partitions.lock_for_ddl(conn)
            return [m for m in wanted if await partitions.add_month(conn, m)]
    except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError):
        return None  # busy: the next step tries again, well before the month begins


async def refresh_statistics(conn: asyncpg.Connection) -> bool:
    """ANALYZE the whole log when its statistics are stale (autovacuum analyses each month,
    never their parent, whose statistics the browser's estimates read); True if it ran.
    One replica at a time; outside a transaction, so each month's part commits alone."""
    estimates = await statistics.row_estimates(conn)
    if estimates is None or not statistics_stale(*estimates):
        return False
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _ANALYZE_LOCK):
        return False
    try:
        # Another replica may have just finished it.
        estimates = await statistics.row_estimates(conn)
        if estimates is None or not statistics_stale(*estimates):
            return False
        await statistics.analyze_log(conn)
        return True
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _ANALYZE_LOCK)


@dataclass(frozen=True, slots=True)
class Migrated:
    copied: int
    swapped: bool  # False: stopped before the end (`max_batches`), resumable


async def migrate(
    conn: asyncpg.Connection,
    *,
    now: datetime,
    batch: int = 10_000,
    ahead: int = 3,
    max_batches: int | None = None,
    progress: Callable[[int, int | None], None] = lambda copied, total: None,
) -> Migrated | None:
    """Copy the old log into the partitioned one in batches by id, from where a previous run
    stopped, then swap the names. None: the log is partitioned already. Writes go on
    meanwhile (migration 0019's trigger repeats them on the new table)."""
    state = await partitions.migration_state(conn)
    if not state.pending:
        return None
    first, last, estimate = await partitions.start_migration(conn)
    if first is not None and last is not None:
        month = first
        while month <= add_months(last, ahead):
            async with conn.transaction():
                await partitions.lock_for_ddl(conn)
                await partitions.add_month(conn, month, "lead_activity_log_partitioned")
            month = add_months(month, 1)
    copied, after, batches = state.copied, state.last_id, 0
    while max_batches is None or batches < max_batches:
        n, copied, after = await partitions.copy_batch(conn, after, batch)
        batches += 1
        progress(copied, estimate)
        if n < batch:
            await partitions.swap(conn)
            await statistics.analyze_log(conn)
            await maintain(conn, now, ahead)
            return Migrated(copied, swapped=True)
    return Migrated(copied, swapped=False)
