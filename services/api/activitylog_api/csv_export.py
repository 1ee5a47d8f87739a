"""CSV export of the admin browser: streamed by keyset in chunks, formula cells neutralised."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import asyncpg

from activitylog.contract.times import iso
from activitylog.domain.csv_safe import encode_rows
from activitylog.runtime.logs import get_logger
from activitylog.storage.activity_log.filters import ActivityFilter, Ordering
from activitylog.storage.activity_log.queries import browse
from activitylog_api.errors import outage_message

log = get_logger("activitylog.api")

COLUMNS = (
    "Timestamp",
    "Category",
    "Event Type",
    "Description",
    "Message Content",
    "Lead Name",
    "Lead Email",
    "Lead Airtable ID",
    "Source",
    "Execution ID",
)
CHUNK_ROWS = 1_000
# Starts the last line of an export that failed part-way (see `interrupted_line`).
INTERRUPTED_MARK = "#ERROR:"


def csv_row(row: asyncpg.Record) -> list[str]:
    name = " ".join(p for p in (row["first_name"], row["last_name"]) if p)
    cells = (
        iso(row["timestamp"]),
        row["event_category"],
        row["event_type"],
        row["description"],
        row["message_content"],
        name,
        row["lead_email"],
        row["lead_airtable_id"],
        row["source"],
        row["execution_id"],
    )
    return list(cells)


def _encode(rows: Iterable[list[str]]) -> bytes:
    # The one formula-safe writer (activitylog.domain.csv_safe).
    return encode_rows(rows)


async def _chunk(
    pool: asyncpg.Pool,
    flt: ActivityFilter,
    ordering: Ordering,
    after: tuple[Any, ...] | None,
    chunk_rows: int,
    budget_ms: int | None,
) -> list[asyncpg.Record]:
    # A connection is held only for each chunk's query, so a slow client never pins one.
    async with pool.acquire() as conn:
        return await browse(
            conn, flt, ordering=ordering, after=after, limit=chunk_rows, budget_ms=budget_ms
        )


async def export_rows(
    pool: asyncpg.Pool,
    flt: ActivityFilter,
    ordering: Ordering,
    *,
    chunk_rows: int = CHUNK_ROWS,
    budget_ms: int | None = None,
) -> AsyncIterator[bytes]:
    """The header, then every matching row, one keyset query per chunk; the first chunk is
    read before this returns, so an outage is the caller's 503, not a 200 cut after the header."""
    first = await _chunk(pool, flt, ordering, None, chunk_rows, budget_ms)
    return _body(pool, flt, ordering, first, chunk_rows, budget_ms)


async def _body(
    pool: asyncpg.Pool,
    flt: ActivityFilter,
    ordering: Ordering,
    rows: list[asyncpg.Record],
    chunk_rows: int,
    budget_ms: int | None,
) -> AsyncIterator[bytes]:
    yield _encode([list(COLUMNS)])
    sent = 0
    while rows:
        yield _encode(csv_row(r) for r in rows)
        sent += len(rows)
        if len(rows) < chunk_rows:
            return
        try:
            rows = await _chunk(
                pool, flt, ordering, ordering.position(rows[-1]), chunk_rows, budget_ms
            )
        except Exception as exc:
            # The status line went out long ago: the last line is all that can still say
            # the file is incomplete.
            outage = outage_message(exc) is not None
            log.error(
                "csv export interrupted", rows_sent=sent, error=repr(exc), exc_info=not outage
            )
            yield interrupted_line(exc).encode("utf-8")
            return


def interrupted_line(exc: BaseException) -> str:
    """The export's last line after a failure: no data row starts with `#` (the first
    column is a timestamp), and spreadsheets show `#ERROR` like their own error values."""
    cause = "database unavailable" if outage_message(exc) is not None else "internal error"
    return f"{INTERRUPTED_MARK} export interrupted: {cause}; the rows above are incomplete\r\n"
