"""CSV export of the admin browser (§7): streamed by keyset in chunks, formula cells neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from typing import Any

import asyncpg

from activitylog.health import iso
from activitylog.storage.activity_log import ActivityFilter, Ordering, browse

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

# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str | None) -> str:
    """The cell's text, prefixed with ' when a spreadsheet would take it for a formula."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


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
    return [neutralise(c) for c in cells]


def _encode(rows: Iterable[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


async def export_rows(
    pool: asyncpg.Pool,
    flt: ActivityFilter,
    ordering: Ordering,
    *,
    chunk_rows: int = CHUNK_ROWS,
    budget_ms: int | None = None,
) -> AsyncIterator[bytes]:
    """The header, then every matching row, one keyset query per chunk (constant memory).

    A connection is held only for each chunk's query, so a slow client never pins one.
    """
    yield _encode([list(COLUMNS)])
    after: tuple[Any, ...] | None = None
    while True:
        async with pool.acquire() as conn:
            rows = await browse(
                conn, flt, ordering=ordering, after=after, limit=chunk_rows, budget_ms=budget_ms
            )
        if not rows:
            return
        yield _encode(csv_row(r) for r in rows)
        if len(rows) < chunk_rows:
            return
        after = ordering.position(rows[-1])
