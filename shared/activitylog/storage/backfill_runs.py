"""SQL for the `backfill_runs` table: one row per backfill run, kept for `backfill status`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True)
class BackfillRun:
    id: int
    kind: str
    source: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    rows_read: int
    written: int
    duplicates: int
    skipped: int
    summary: dict[str, Any] | None


async def start(conn: asyncpg.Connection, kind: str, source: str) -> int:
    """Record a run as started; returns its id."""
    return int(
        await conn.fetchval(
            "INSERT INTO backfill_runs (kind, source) VALUES ($1, $2) RETURNING id", kind, source
        )
    )


async def finish(
    conn: asyncpg.Connection,
    run_id: int,
    *,
    failed: bool,
    rows_read: int,
    written: int,
    duplicates: int,
    skipped: int,
    summary: dict[str, Any],
) -> None:
    """Record what the run did, whether it got to the end or not."""
    await conn.execute(
        """
        UPDATE backfill_runs
        SET status = $2, finished_at = now(), rows_read = $3, written = $4, duplicates = $5,
            skipped = $6, summary = $7
        WHERE id = $1
        """,
        run_id,
        "failed" if failed else "finished",
        rows_read,
        written,
        duplicates,
        skipped,
        summary,
    )


async def recent(conn: asyncpg.Connection, *, kind: str | None, limit: int) -> list[BackfillRun]:
    """The newest runs first (of `kind` if given)."""
    rows = await conn.fetch(
        """
        SELECT id, kind, source, status, started_at, finished_at, rows_read, written,
               duplicates, skipped, summary
        FROM backfill_runs
        WHERE $1::text IS NULL OR kind = $1
        ORDER BY started_at DESC, id DESC
        LIMIT $2
        """,
        kind,
        limit,
    )
    return [BackfillRun(*r) for r in rows]
