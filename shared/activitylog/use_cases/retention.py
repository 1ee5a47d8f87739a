"""Retention with an archive: expired months written to Parquet, verified, then dropped
(or one client's rows deleted); archived months listed and restored (docs/RUNBOOK.md §18).

The counters and the analytics keep the figures of archived months: they live in their own
tables, which dropping a partition does not touch. `counters rebuild` and `analytics
rebuild` recount from the log, so they refuse to run while months are archived unless told
to forget those months' figures.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import asyncpg

from activitylog.domain.partitions import RetentionPlan, RowDelete, plan_retention
from activitylog.runtime import archive
from activitylog.storage.activity_log import partitions, statistics
from activitylog.storage.activity_log.partitions import ArchivedFile, Rows

# One retention run at a time across replicas (a session lock: each month is its own
# transaction).
_RETENTION_LOCK = 0x1EAD_9A28


@dataclass(slots=True)
class RetentionRun:
    """What a run did (or, dry, would do)."""

    plan: RetentionPlan
    dropped: list[date] = field(default_factory=list)
    deleted: list[tuple[RowDelete, int]] = field(default_factory=list)
    archived: list[ArchivedFile] = field(default_factory=list)
    # Months left for the next run: a follower has yet to count a late event of theirs, or
    # their partition was busy.
    deferred: list[date] = field(default_factory=list)
    skipped: bool = False  # another replica is running it


async def run(
    conn: asyncpg.Connection,
    *,
    now: datetime,
    keep_months: int | None,
    archive_url: str,
    dry_run: bool = False,
) -> RetentionRun:
    """Archive then drop (or delete) what has expired; idempotent, one replica at a time."""
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _RETENTION_LOCK):
        return RetentionRun(RetentionPlan(), skipped=True)
    try:
        plan = plan_retention(
            await partitions.months(conn),
            now,
            keep_months,
            await partitions.client_keep(conn),
            held=await partitions.held_months(conn, now),
        )
        done = RetentionRun(plan)
        if dry_run:
            return done
        for month in plan.drop:
            await _expire(conn, archive_url, Rows(month), "month", done)
        for cut in plan.deletes:
            rows = Rows(cut.month, cut.client, None if cut.client else cut.sparing)
            kind = f"client-{cut.client}" if cut.client else "clients"
            await _expire(conn, archive_url, rows, kind, done, cut)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _RETENTION_LOCK)


async def _expire(
    conn: asyncpg.Connection,
    url: str,
    rows: Rows,
    kind: str,
    done: RetentionRun,
    cut: RowDelete | None = None,
) -> None:
    """Archive `rows` and remove them from the log, in one transaction that holds their
    month against writes: what is dropped is exactly what was archived."""
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = '10s'")
            if not await partitions.lock_month(conn, rows.month):
                return
            if await partitions.untaken(conn, rows.month):
                done.deferred.append(rows.month)
                return
            expected = await partitions.count_rows(conn, rows)
            written, skipped = await _archive(conn, url, rows, kind)
            if written is not None:
                file = ArchivedFile(
                    written.path,
                    rows.month,
                    rows.client,
                    "month" if cut is None else ("client" if rows.client else "default-clients"),
                    written.rows,
                    written.bytes,
                    datetime.now().astimezone(),
                )
                await partitions.record_archive(conn, file)
                done.archived.append(file)
            archived_now = written.rows if written else 0
            if archived_now + skipped != expected:
                raise RuntimeError(
                    f"{rows.month}: {expected} rows in the log, {archived_now} archived now "
                    f"and {skipped} before: nothing removed"
                )
            if cut is None:
                await partitions.drop_month(conn, rows.month)
                done.dropped.append(rows.month)
            else:
                done.deleted.append((cut, await partitions.delete_rows(conn, rows)))
    except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError):
        done.deferred.append(rows.month)  # busy: the next run takes it


async def _archive(
    conn: asyncpg.Connection, url: str, rows: Rows, kind: str
) -> tuple[archive.WrittenFile | None, int]:
    """Write the rows not archived yet; returns the file (None: nothing new) and how many
    rows an earlier run had archived already."""
    already = await asyncio.to_thread(archive.archived_ids, url, rows.month)
    writer = await asyncio.to_thread(archive.MonthWriter, url, rows.month, kind, already)
    try:
        async for chunk in partitions.read_rows(conn, rows):
            await asyncio.to_thread(writer.add, chunk)
        written = await asyncio.to_thread(writer.finish)
    except BaseException:
        await asyncio.to_thread(writer.abort)
        raise
    return written, writer.skipped


async def restore(
    conn: asyncpg.Connection, month: date, archive_url: str, *, hold: timedelta, now: datetime
) -> int:
    """Bring `month` back from the archive: its partition created, its rows loaded where they
    are missing (idempotent); retention leaves it for `hold`. Returns the rows restored."""
    restored = 0
    async with conn.transaction():
        await partitions.lock_for_ddl(conn)
        await partitions.add_month(conn, month)
    chunks = archive.read_month(archive_url, month)
    while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
        async with conn.transaction():
            restored += await partitions.restore_rows(conn, chunk)
    await statistics.analyze_month(conn, month)
    total = sum(f.rows for f in await asyncio.to_thread(archive.month_files, archive_url, month))
    await partitions.record_restore(conn, month, total, now + hold)
    return restored


async def set_client(conn: asyncpg.Connection, client: uuid.UUID, keep: int | None) -> None:
    await partitions.set_client_keep(conn, client, keep)
