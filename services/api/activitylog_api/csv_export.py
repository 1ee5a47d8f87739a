"""CSV export of the admin browser: streamed by keyset in chunks, formula cells neutralised."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import asyncpg

from activitylog.contract.times import iso
from activitylog.domain.csv_safe import encode_rows
from activitylog.domain.reads.query import ActivityFilter, Ordering
from activitylog.domain.reads.rows import StoredEvent
from activitylog.runtime.logs import get_logger
from activitylog.use_cases.reads.browser import export_chunks
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
    "Created By",
)
CHUNK_ROWS = 1_000
# Starts the last line of an export that failed part-way (see `interrupted_line`).
INTERRUPTED_MARK = "#ERROR:"


def csv_row(event: StoredEvent) -> list[str | None]:
    lead = event.lead
    return [
        iso(event.timestamp),
        event.category,
        event.event_type,
        event.description,
        event.message_content,
        lead.full_name if lead else "",
        lead.email if lead else None,
        event.lead_airtable_id,
        event.source,
        event.execution_id,
        str(event.created_by) if event.created_by else None,
    ]


def _encode(rows: Iterable[list[str | None]]) -> bytes:
    # The one formula-safe writer (activitylog.domain.csv_safe).
    return encode_rows(rows)


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
    chunks = await export_chunks(pool, flt, ordering, chunk_rows=chunk_rows, budget_ms=budget_ms)
    return _body(chunks)


async def _body(chunks: AsyncIterator[list[StoredEvent]]) -> AsyncIterator[bytes]:
    yield _encode([list(COLUMNS)])
    sent = 0
    try:
        async for rows in chunks:
            yield _encode(csv_row(r) for r in rows)
            sent += len(rows)
    except Exception as exc:
        # The status line went out long ago: the last line is all that can still say
        # the file is incomplete.
        outage = outage_message(exc) is not None
        log.error("csv export interrupted", rows_sent=sent, error=repr(exc), exc_info=not outage)
        yield interrupted_line(exc).encode("utf-8")


def interrupted_line(exc: BaseException) -> str:
    """The export's last line after a failure: no data row starts with `#` (the first
    column is a timestamp), and spreadsheets show `#ERROR` like their own error values."""
    cause = "database unavailable" if outage_message(exc) is not None else "internal error"
    return f"{INTERRUPTED_MARK} export interrupted: {cause}; the rows above are incomplete\r\n"
