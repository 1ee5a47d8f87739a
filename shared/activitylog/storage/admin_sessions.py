"""SQL for the `admin_sessions` table (server-side sessions of the admin UI)."""

from __future__ import annotations

import asyncpg


async def get(conn: asyncpg.Connection, id_hash: bytes, renew_for_s: int | None) -> bytes | None:
    """The session's data if it has not expired; optionally push its expiry back."""
    if renew_for_s is None:
        return await conn.fetchval(
            "SELECT data FROM admin_sessions WHERE id_hash = $1 AND expires_at > now()", id_hash
        )
    return await conn.fetchval(
        """
        UPDATE admin_sessions SET expires_at = now() + make_interval(secs => $2)
        WHERE id_hash = $1 AND expires_at > now()
        RETURNING data
        """,
        id_hash,
        float(renew_for_s),
    )


async def put(conn: asyncpg.Connection, id_hash: bytes, data: bytes, expires_in_s: int) -> None:
    await conn.execute(
        """
        INSERT INTO admin_sessions (id_hash, data, expires_at)
        VALUES ($1, $2, now() + make_interval(secs => $3))
        ON CONFLICT (id_hash) DO UPDATE SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at
        """,
        id_hash,
        data,
        float(expires_in_s),
    )


async def delete(conn: asyncpg.Connection, id_hash: bytes) -> None:
    await conn.execute("DELETE FROM admin_sessions WHERE id_hash = $1", id_hash)


async def delete_all(conn: asyncpg.Connection) -> None:
    await conn.execute("DELETE FROM admin_sessions")


async def delete_expired(conn: asyncpg.Connection) -> int:
    result = await conn.execute("DELETE FROM admin_sessions WHERE expires_at <= now()")
    return int(result.rsplit(" ", 1)[-1])


async def seconds_left(conn: asyncpg.Connection, id_hash: bytes) -> int | None:
    value = await conn.fetchval(
        """
        SELECT greatest(extract(epoch FROM expires_at - now()), 0)::int
        FROM admin_sessions WHERE id_hash = $1 AND expires_at > now()
        """,
        id_hash,
    )
    return int(value) if value is not None else None
