"""SQL for the `idempotency_keys` table: the API's Idempotency-Key records for events it
stored directly in PostgreSQL (Redis down); while Redis is up they live in Redis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """The first request made with a key: its body's hash, answer status and receipt time."""

    body_hash: bytes
    status: int
    received_at: datetime


async def claim(
    conn: asyncpg.Connection, key_hash: bytes, record: KeyRecord, ttl_s: float
) -> KeyRecord | None:
    """Record `record` for the key unless a live record exists; that one is returned.

    Call inside the transaction that stores the events: a concurrent request with the same
    key waits for it and then sees the record.
    """
    await conn.execute("DELETE FROM idempotency_keys WHERE expires_at <= now()")
    made = await conn.fetchval(
        """
        INSERT INTO idempotency_keys (key_hash, body_hash, status, received_at, expires_at)
        VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
        ON CONFLICT (key_hash) DO NOTHING
        RETURNING true
        """,
        key_hash,
        record.body_hash,
        record.status,
        record.received_at,
        float(ttl_s),
    )
    if made:
        return None
    # A new statement, so a record committed while the insert waited for it is seen.
    row = await conn.fetchrow(
        "SELECT body_hash, status, received_at FROM idempotency_keys WHERE key_hash = $1",
        key_hash,
    )
    assert row is not None
    return KeyRecord(bytes(row["body_hash"]), int(row["status"]), row["received_at"])
