"""SQL for the `lead_activity_log` table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """One row as stored; the lead is already resolved."""

    id: uuid.UUID
    event_type: str
    event_category: str
    lead_id: uuid.UUID
    lead_airtable_id: str | None
    client_id: uuid.UUID | None
    description: str
    message_content: str | None
    metadata_json: str | None
    source: str
    execution_id: str | None
    created_by: uuid.UUID | None
    timestamp: datetime


COLUMNS = (
    "id",
    "event_type",
    "event_category",
    "lead_id",
    "lead_airtable_id",
    "client_id",
    "description",
    "message_content",
    "metadata",
    "source",
    "execution_id",
    "created_by",
    "timestamp",
)

_INSERT = """
INSERT INTO lead_activity_log (
    id, event_type, event_category, lead_id, lead_airtable_id, client_id, description,
    message_content, metadata, source, execution_id, created_by, "timestamp"
)
SELECT id, event_type, event_category, lead_id, lead_airtable_id, client_id, description,
       message_content, metadata::jsonb, source, execution_id, created_by, ts
FROM unnest(
    $1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::uuid[], $7::text[],
    $8::text[], $9::text[], $10::text[], $11::text[], $12::uuid[], $13::timestamptz[]
) AS t(id, event_type, event_category, lead_id, lead_airtable_id, client_id, description,
       message_content, metadata, source, execution_id, created_by, ts)
ORDER BY id
ON CONFLICT (id) DO NOTHING
RETURNING id
"""


async def insert_rows(conn: asyncpg.Connection, rows: list[ActivityRow]) -> set[uuid.UUID]:
    """Insert idempotently (one statement for the whole batch); return the ids that were new."""
    if not rows:
        return set()
    columns = list(zip(*(_as_tuple(r) for r in rows), strict=True))
    inserted = await conn.fetch(_INSERT, *columns)
    return {r["id"] for r in inserted}


def _as_tuple(row: ActivityRow) -> tuple[object, ...]:
    return (
        row.id,
        row.event_type,
        row.event_category,
        row.lead_id,
        row.lead_airtable_id,
        row.client_id,
        row.description,
        row.message_content,
        row.metadata_json,
        row.source,
        row.execution_id,
        row.created_by,
        row.timestamp,
    )


async def count_all(conn: asyncpg.Connection) -> int:
    """Exact number of stored events (tests and benchmarks; the API caps its own counts)."""
    return int(await conn.fetchval("SELECT count(*) FROM lead_activity_log"))
