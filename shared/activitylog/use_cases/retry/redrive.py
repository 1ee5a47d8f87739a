"""Re-drive, replay, discard and import of retry_queue rows, shared by service, CLI and API.

A row's event is derived exactly as the stream path derives it, so a replay of an entry the
ingest already stored (or stores later) finds the same event id and adds nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from activitylog.contract.identity import AcceptedEvent
from activitylog.domain.dead_letters import RetryRow, RetryStatus, RowUpdate
from activitylog.domain.retry.outcomes import (
    DiscardRefused,
    NotReplayable,
    Outcome,
    RetryPolicy,
    accept_row,
    after_failure,
    after_success,
    already_resolved,
)
from activitylog.runtime.db import is_transient
from activitylog.storage import retry_queue
from activitylog.use_cases.store_batch import store_batch


async def attempt(
    conn: asyncpg.Connection, rows: list[RetryRow], policy: RetryPolicy
) -> list[Outcome]:
    """Store the locked rows' events and write each outcome back (the caller holds the tx).

    A pending row that fails counts an attempt and backs off, or goes dead at the limit or
    at once when its payload can never be an event; a dead or discarded row that an operator
    replays keeps its status on failure and only records the error.
    """
    accepted: dict[int, AcceptedEvent] = {}
    errors: dict[int, str] = {}
    permanent: set[int] = set()
    waiting: dict[int, tuple[str, ...]] = {}
    for row in rows:
        if row.status is RetryStatus.RESOLVED:
            continue
        try:
            accepted[row.id] = accept_row(row)
        except NotReplayable as exc:
            errors[row.id] = str(exc)
            permanent.add(row.id)
    stored = await _store(conn, accepted, errors, permanent, waiting)

    now = datetime.now(UTC)
    outcomes: list[Outcome] = []
    updates: list[RowUpdate] = []
    for row in rows:
        if row.status is RetryStatus.RESOLVED:
            outcomes.append(already_resolved(row))
            continue
        event = accepted.get(row.id)
        if row.id not in errors and event is not None:
            outcome = after_success(row, event.id, stored.get(row.id, False))
            updates.append(RowUpdate(row.id, outcome.status, row.retry_count, None, None))
        else:
            outcome = after_failure(row, errors[row.id], row.id in permanent, policy, now)
            updates.append(
                RowUpdate(
                    row.id,
                    outcome.status,
                    outcome.retry_count,
                    outcome.next_retry_at,
                    outcome.error,
                    waiting.get(row.id, ()),
                )
            )
        outcomes.append(outcome)
    await retry_queue.update_outcomes(conn, updates)
    return outcomes


def _refused(exc: BaseException) -> bool:
    """Something in the data failed the store (not an outage): retrying as is fails."""
    return not is_transient(exc)


async def _store(
    conn: asyncpg.Connection,
    accepted: dict[int, AcceptedEvent],
    errors: dict[int, str],
    permanent: set[int],
    waiting: dict[int, tuple[str, ...]],
) -> dict[int, bool]:
    """store_batch for the accepted rows; returns row id → newly inserted, fills `errors`
    (`permanent` with the rows store_batch refused for good, `waiting` with what the rows
    whose lead is not known yet wait for).

    store_batch runs in a savepoint, so a refused batch leaves the caller's tx usable.
    """
    if not accepted:
        return {}
    try:
        result = await store_batch(conn, list(accepted.values()))
    except Exception as exc:
        if not _refused(exc):
            raise
        if len(accepted) == 1:
            errors[next(iter(accepted))] = f"could not be stored: {exc!r}"
            return {}
        stored: dict[int, bool] = {}
        for row_id, event in accepted.items():
            stored.update(await _store(conn, {row_id: event}, errors, permanent, waiting))
        return stored
    refused = {letter.queue_id: letter for letter in result.refused}
    stored = {}
    for row_id, event in accepted.items():
        if event.origin in refused:
            errors[row_id] = refused[event.origin].reason
            # Dead: its clientId contradicts its lead's client, which no retry changes.
            if refused[event.origin].status is RetryStatus.DEAD:
                permanent.add(row_id)
            elif refused[event.origin].waiting_for:
                waiting[row_id] = refused[event.origin].waiting_for
        else:
            stored[row_id] = event.id in result.inserted
    return stored


async def redrive_due(pool: asyncpg.Pool, policy: RetryPolicy, limit: int) -> list[Outcome]:
    """One batch of due pending rows, claimed with SKIP LOCKED so replicas share the work."""
    rows: list[RetryRow] = []
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                rows = await retry_queue.claim_due(conn, limit)
                return await attempt(conn, rows, policy) if rows else []
        except Exception as exc:
            if is_transient(exc) or not rows:
                raise
            failure = exc
    # Something unforeseen failed the batch: row by row, so one row cannot block the rest.
    outcomes: list[Outcome] = []
    for row in rows:
        outcomes.extend(await _redrive_alone(pool, row.id, policy, failure))
    return outcomes


async def _redrive_alone(
    pool: asyncpg.Pool, row_id: int, policy: RetryPolicy, batch_error: BaseException
) -> list[Outcome]:
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                rows = await retry_queue.lock(conn, [row_id])
                if not rows or rows[0].status is not RetryStatus.PENDING:
                    return []
                return await attempt(conn, rows, policy)
        except Exception as exc:
            if is_transient(exc):
                raise
            error = f"internal error while storing: {exc!r} (batch: {batch_error!r})"
        async with conn.transaction():
            rows = await retry_queue.lock(conn, [row_id])
            if not rows or rows[0].status is not RetryStatus.PENDING:
                return []
            outcome = after_failure(rows[0], error, False, policy, datetime.now(UTC))
            await retry_queue.update_outcomes(
                conn,
                [
                    RowUpdate(
                        row_id,
                        outcome.status,
                        outcome.retry_count,
                        outcome.next_retry_at,
                        outcome.error,
                    )
                ],
            )
            return [outcome]


async def replay(pool: asyncpg.Pool, row_ids: list[int], policy: RetryPolicy) -> list[Outcome]:
    """Try the given rows now, whatever their status; a resolved row is left alone.

    Rows that do not exist are simply absent from the result.
    """
    if not row_ids:
        return []
    async with pool.acquire() as conn, conn.transaction():
        rows = await retry_queue.lock(conn, sorted(set(row_ids)))
        return await attempt(conn, rows, policy)


async def discard(pool: asyncpg.Pool, row_id: int, reason: str | None = None) -> RetryRow | None:
    """Mark a row `discarded` (an operator's decision); None if there is no such row."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await retry_queue.lock(conn, [row_id])
        if not rows:
            return None
        row = rows[0]
        if row.status is RetryStatus.RESOLVED:
            raise DiscardRefused(f"row {row_id} is resolved (its event is stored); not discarded")
        if row.status is not RetryStatus.DISCARDED:
            note = f"discarded by an operator: {reason}" if reason else None
            await retry_queue.set_status(conn, row_id, RetryStatus.DISCARDED, note)
        return await retry_queue.get(conn, row_id)


# -- CSV import of the old Airtable Retry_Queue ------------------------------------------


# -- presentation shared by the CLI and the API ------------------------------------------
