"""SQL for the `retry_queue` table (the dead-letter store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import asyncpg


class RetryStatus(StrEnum):
    PENDING = "pending"
    RESOLVED = "resolved"
    DEAD = "dead"
    DISCARDED = "discarded"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Something that could not be stored now: `dead` never can be, `pending` may later."""

    queue_id: str
    lead_id: str | None
    payload: str
    reason: str
    status: RetryStatus
    next_retry_at: datetime | None = None
    operation_type: str = "activity_log"


def storable_text(text: str) -> str:
    """PostgreSQL text cannot hold NUL; keep the payload readable and lossless otherwise."""
    return text.replace("\x00", "\\u0000")


async def add(conn: asyncpg.Connection, letters: list[DeadLetter]) -> int:
    """Insert dead letters; a queue_id already present is left alone (redelivery)."""
    if not letters:
        return 0
    letters = sorted(letters, key=lambda d: d.queue_id)
    result = await conn.execute(
        """
        INSERT INTO retry_queue
            (queue_id, operation_type, lead_id, payload, last_error, status, next_retry_at)
        SELECT * FROM unnest(
            $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::timestamptz[]
        )
        ON CONFLICT (queue_id) DO NOTHING
        """,
        [d.queue_id for d in letters],
        [d.operation_type for d in letters],
        [storable_text(d.lead_id) if d.lead_id else None for d in letters],
        [storable_text(d.payload) for d in letters],
        [storable_text(d.reason) for d in letters],
        [d.status.value for d in letters],
        [d.next_retry_at for d in letters],
    )
    return int(result.rsplit(" ", 1)[-1])


async def count_by_status(conn: asyncpg.Connection) -> dict[str, int]:
    """Rows per status (health figures, tests)."""
    rows = await conn.fetch("SELECT status, count(*) AS n FROM retry_queue GROUP BY status")
    counts = {s.value: 0 for s in RetryStatus}
    counts.update({r["status"]: int(r["n"]) for r in rows})
    return counts
