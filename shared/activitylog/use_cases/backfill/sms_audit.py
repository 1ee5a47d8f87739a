"""The SMS_Audit backfill: rows → events, stored by the one batch store, a batch at a time.

Mapping the next batch (in a thread) overlaps storing the previous one, so PostgreSQL and
Python work at the same time. Every write goes through `use_cases.store_batch`: stub
leads, idempotent insert, last activity only forward, counters.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import tzinfo

import asyncpg

from activitylog.contract.identity import AcceptedEvent
from activitylog.domain.sms_audit.facts import PlannedEvent, Skip, map_row
from activitylog.domain.sms_audit.rows import AuditRow
from activitylog.domain.sms_audit.summary import BackfillSummary
from activitylog.storage import backfill_runs
from activitylog.storage.activity_log import writes as activity_writes
from activitylog.use_cases.store_batch import store_batch

KIND = "sms-audit"
# Events per batch. The batch store holds an advisory lock per stub lead (one without a
# client) until its commit; a backfill's leads are mostly stubs, and PostgreSQL's lock table
# (max_locks_per_transaction × connections) must hold CONCURRENCY batches' worth of them.
BATCH_SIZE = 1_000
# Batches stored at once: PostgreSQL works on one while the next is sent and committed.
CONCURRENCY = 2


@dataclass(slots=True)
class _Batch:
    rows: int
    events: list[PlannedEvent]
    skips: list[Skip]


def _map(rows: list[AuditRow], tz: tzinfo) -> _Batch:
    events: list[PlannedEvent] = []
    skips: list[Skip] = []
    for row in rows:
        found, skipped = map_row(row, tz)
        events += found
        skips += skipped
    return _Batch(len(rows), events, skips)


async def _batches(chunks: AsyncIterator[list[AuditRow]], tz: tzinfo) -> AsyncIterator[_Batch]:
    async for rows in chunks:
        yield await asyncio.to_thread(_map, rows, tz)


async def _store(
    conn: asyncpg.Connection, batch: _Batch, summary: BackfillSummary, seen: set[int]
) -> None:
    # The same fact twice in one batch (a row and its "Delivery Update" row) is stored once:
    # store_batch expects each id once.
    # A fact a backfill stored before the tracking plan has its old id: it is there already.
    legacy = await activity_writes.stored_ids(
        conn, [p.legacy_id for p in batch.events if p.legacy_id is not None]
    )
    unique: dict[object, AcceptedEvent] = {}
    for planned in batch.events:
        if planned.legacy_id not in legacy:
            unique.setdefault(planned.accepted.id, planned.accepted)
    summary.duplicates += len(batch.events) - len(unique)
    events = list(unique.values())
    if summary.dry_run:
        # Nothing is stored, so a fact an earlier batch held is remembered here instead.
        stored = await activity_writes.stored_ids(conn, [e.id for e in events])
        new = [e for e in events if e.id not in stored and e.id.int not in seen]
        seen.update(e.id.int for e in new)
        summary.duplicates += len(events) - len(new)
        summary.written.update(e.event.event_type.value for e in new)
        return
    result = await store_batch(conn, events)
    summary.duplicates += len(result.duplicates)
    summary.refused += len(result.refused)
    summary.written.update(e.event.event_type.value for e in events if e.id in result.inserted)


async def _store_pooled(
    pool: asyncpg.Pool, batch: _Batch, summary: BackfillSummary, seen: set[int]
) -> None:
    async with pool.acquire() as conn:
        await _store(conn, batch, summary, seen)


async def run(
    pool: asyncpg.Pool,
    chunks: AsyncIterator[list[AuditRow]],
    *,
    tz: tzinfo,
    source: str,
    dry_run: bool = False,
    on_skip: Callable[[Skip], None] = lambda _: None,
    concurrency: int = CONCURRENCY,
) -> BackfillSummary:
    """Backfill every row `chunks` yields; a dry run reads the log but writes nothing.

    Up to `concurrency` batches are stored at once, each on its own connection (the batch
    store takes its locks in one order, as concurrent ingest workers need too). A real run
    is recorded in `backfill_runs` (failed, with its counts so far, if it stops).
    """
    summary = BackfillSummary(dry_run=dry_run)
    run_id = None
    if not dry_run:
        async with pool.acquire() as conn:
            run_id = await backfill_runs.start(conn, KIND, source)
    failed = True
    storing: set[asyncio.Task[None]] = set()
    seen: set[int] = set()  # a dry run's event ids (as ints: a third of a UUID's memory)
    try:
        async for batch in _batches(chunks, tz):
            summary.rows_read += batch.rows
            summary.saw(batch.events, batch.skips)
            for skip in batch.skips:
                on_skip(skip)
            while len(storing) >= concurrency:
                done, storing = await asyncio.wait(storing, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # a failed batch stops the run
            storing.add(asyncio.create_task(_store_pooled(pool, batch, summary, seen)))
        await asyncio.gather(*storing)
        failed = False
    finally:
        for task in storing:
            task.cancel()
        # The batches still storing stop before the run's record is written.
        await asyncio.gather(*storing, return_exceptions=True)
        if run_id is not None:
            async with pool.acquire() as conn:
                await backfill_runs.finish(
                    conn,
                    run_id,
                    failed=failed,
                    rows_read=summary.rows_read,
                    written=summary.total_written,
                    duplicates=summary.duplicates,
                    skipped=sum(summary.skipped.values()),
                    summary=summary.as_json(),
                )
    return summary
