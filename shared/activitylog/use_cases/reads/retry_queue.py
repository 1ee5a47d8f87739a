"""The retry queue's one read, for `GET /api/admin/retry-queue` and the admin UI's
/admin/retry-queue alike: rows newest first by status, with the counts per status."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from activitylog.domain.dead_letters import RetryRow, RetryStatus
from activitylog.domain.reads.cursor import decode_cursor, malformed
from activitylog.domain.reads.paging import keyset_page
from activitylog.domain.reads.params import bigint_id
from activitylog.domain.reads.query import BadQuery
from activitylog.storage import retry_queue

CURSOR_KIND = "retry-queue:id:desc"
# Pending or dead rows no lead took yet (a phone, email or message nothing matches).
UNPLACED = "unplaced"
STATUS_NAMES = [*(s.value for s in RetryStatus), UNPLACED]


@dataclass(frozen=True, slots=True)
class RetryQueueQuery:
    """Rows of one status (or `unplaced`; None: all) and lead, after `cursor` (a page's
    `next_cursor`) or, as the admin UI's older links say it, below the row id `before_id`."""

    status: RetryStatus | None = None
    unplaced: bool = False
    lead_id: str | None = None
    cursor: str | None = None
    before_id: int | None = None
    limit: int = 50


def status_choice(value: str | None) -> tuple[RetryStatus | None, bool]:
    """(status, unplaced) of a `status` parameter: a status or `unplaced`; None for all."""
    if value is None:
        return None, False
    if value not in STATUS_NAMES:
        raise BadQuery("status", f"must be one of {', '.join(STATUS_NAMES)}")
    if value == UNPLACED:
        return None, True
    return RetryStatus(value), False


@dataclass(frozen=True, slots=True)
class RetryQueuePage:
    rows: list[RetryRow]
    has_more: bool
    next_cursor: str | None
    counts: dict[str, int]  # rows per status
    unplaced: int  # rows no lead took yet, pending or given up


def read_cursor(cursor: str) -> int:
    """The row id a page's `next_cursor` continues below (BadQuery if it is not one)."""
    (value,) = decode_cursor(cursor, CURSOR_KIND, (str,))
    row_id = bigint_id(value)
    if row_id is None:
        raise malformed()
    return row_id


def _before(query: RetryQueueQuery) -> int | None:
    return read_cursor(query.cursor) if query.cursor else query.before_id


async def read_retry_queue(pool: asyncpg.Pool, query: RetryQueueQuery) -> RetryQueuePage:
    """A page of rows and, at once on a second connection, the counts per status and of the
    unplaced rows. A bad cursor raises BadQuery before anything is read."""
    before = _before(query)

    async def rows() -> list[RetryRow]:
        async with pool.acquire() as conn:
            return await retry_queue.list_rows(
                conn,
                status=query.status,
                lead_id=query.lead_id,
                before_id=before,
                limit=query.limit + 1,
                unplaced=query.unplaced,
            )

    async def counts() -> tuple[dict[str, int], int]:
        async with pool.acquire() as conn:
            return await retry_queue.count_by_status(conn), await retry_queue.count_waiting(conn)

    fetched, (by_status, unplaced) = await asyncio.gather(rows(), counts())
    page = keyset_page(fetched, query.limit, lambda row: [row.id])
    return RetryQueuePage(
        page.rows, page.has_more, page.next_cursor(CURSOR_KIND), by_status, unplaced
    )
