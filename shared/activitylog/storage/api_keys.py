"""SQL for the `api_keys` table: hashed keys with a role and, for portal keys, a client."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    """One key as stored; the key itself is never stored, only its hash."""

    id: uuid.UUID
    name: str
    role: str
    client_id: uuid.UUID | None
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


_COLUMNS = "id, name, role, client_id, key_prefix, created_at, revoked_at, last_used_at"


def _row(record: asyncpg.Record) -> ApiKeyRow:
    return ApiKeyRow(**{k: record[k] for k in ApiKeyRow.__slots__})


async def create(
    conn: asyncpg.Connection,
    *,
    name: str,
    role: str,
    client_id: uuid.UUID | None,
    key_hash: bytes,
    key_prefix: str,
) -> ApiKeyRow:
    record = await conn.fetchrow(
        f"""
        INSERT INTO api_keys (name, role, client_id, key_hash, key_prefix)
        VALUES ($1, $2, $3, $4, $5)
        RETURNING {_COLUMNS}
        """,
        name,
        role,
        client_id,
        key_hash,
        key_prefix,
    )
    assert record is not None
    return _row(record)


async def list_all(conn: asyncpg.Connection, *, include_revoked: bool = True) -> list[ApiKeyRow]:
    records = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM api_keys
        WHERE $1 OR revoked_at IS NULL
        ORDER BY created_at, id
        """,
        include_revoked,
    )
    return [_row(r) for r in records]


async def find_active(conn: asyncpg.Connection, reference: str) -> list[ApiKeyRow]:
    """Active keys whose id, name or key prefix is `reference` (an operator's handle)."""
    try:
        key_id: uuid.UUID | None = uuid.UUID(reference)
    except ValueError:
        key_id = None
    records = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM api_keys
        WHERE revoked_at IS NULL AND (id = $1 OR name = $2 OR key_prefix = $2)
        ORDER BY created_at
        """,
        key_id,
        reference,
    )
    return [_row(r) for r in records]


async def revoke(conn: asyncpg.Connection, key_id: uuid.UUID) -> ApiKeyRow | None:
    """Mark a key revoked (idempotent: a revoked key keeps its first revocation time)."""
    record = await conn.fetchrow(
        f"""
        UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
        WHERE id = $1
        RETURNING {_COLUMNS}
        """,
        key_id,
    )
    return _row(record) if record else None


async def verify_and_touch(conn: asyncpg.Connection, key_hash: bytes) -> ApiKeyRow | None:
    """The active key with this hash, recording its use; None if unknown or revoked."""
    record = await conn.fetchrow(
        f"""
        UPDATE api_keys SET last_used_at = now()
        WHERE key_hash = $1 AND revoked_at IS NULL
        RETURNING {_COLUMNS}
        """,
        key_hash,
    )
    return _row(record) if record else None


async def key_hash_of(conn: asyncpg.Connection, key_id: uuid.UUID) -> bytes | None:
    """The stored hash of a key (to mark its copy in Redis revoked)."""
    value = await conn.fetchval("SELECT key_hash FROM api_keys WHERE id = $1", key_id)
    return bytes(value) if value is not None else None
