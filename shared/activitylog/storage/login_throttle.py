"""SQL for the `login_throttle` table (admin sign-in attempts per address and per account)."""

from __future__ import annotations

import asyncpg


async def seconds_blocked(conn: asyncpg.Connection, keys: list[str]) -> float | None:
    """How long until none of `keys` is blocked any more; None when none is now."""
    value = await conn.fetchval(
        """
        SELECT extract(epoch FROM max(blocked_until) - now())::float8
        FROM login_throttle WHERE key = ANY($1::text[]) AND blocked_until > now()
        """,
        keys,
    )
    return float(value) if value is not None else None


async def count_attempt(
    conn: asyncpg.Connection, key: str, max_attempts: int, window_s: float
) -> float | None:
    """Count an attempt of `key`; the `max_attempts`-th within the window blocks the key for
    `window_s`. Returns the seconds left to wait when this attempt is over the limit (one
    sent in parallel with the one that reached it), else None."""
    row = await conn.fetchrow(
        """
        INSERT INTO login_throttle AS t (key, attempts, window_ends_at, blocked_until)
        VALUES ($1, 1, now() + make_interval(secs => $3),
                CASE WHEN $2 <= 1 THEN now() + make_interval(secs => $3) END)
        ON CONFLICT (key) DO UPDATE SET
            attempts = CASE WHEN t.window_ends_at <= now() THEN 1 ELSE t.attempts + 1 END,
            window_ends_at = CASE WHEN t.window_ends_at <= now() THEN EXCLUDED.window_ends_at
                                  ELSE t.window_ends_at END,
            blocked_until = CASE
                WHEN (CASE WHEN t.window_ends_at <= now() THEN 1 ELSE t.attempts + 1 END) >= $2
                     AND (t.blocked_until IS NULL OR t.blocked_until <= now())
                THEN now() + make_interval(secs => $3)
                ELSE t.blocked_until END
        RETURNING attempts > $2 AS over,
                  greatest(extract(epoch FROM blocked_until - now()), 0)::float8 AS wait_s
        """,
        key,
        max_attempts,
        float(window_s),
    )
    assert row is not None
    return float(row["wait_s"] or 0) if row["over"] else None


async def forget(conn: asyncpg.Connection, keys: list[str]) -> None:
    await conn.execute("DELETE FROM login_throttle WHERE key = ANY($1::text[])", keys)


async def forget_prefixed(conn: asyncpg.Connection, prefix: str) -> None:
    """Every key starting with `prefix` (an account's keys, when its password is reset)."""
    await conn.execute("DELETE FROM login_throttle WHERE starts_with(key, $1)", prefix)


async def delete_expired(conn: asyncpg.Connection) -> int:
    """Keys whose window and block have both passed: they no longer count for anything."""
    result = await conn.execute(
        """
        DELETE FROM login_throttle
        WHERE window_ends_at <= now() AND (blocked_until IS NULL OR blocked_until <= now())
        """
    )
    return int(result.rsplit(" ", 1)[-1])
