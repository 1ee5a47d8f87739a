"""SQL for the `login_throttle` table: admin sign-in failures per address, per account (from
one address and from everywhere) and per known device (activitylog.use_cases.access.accounts)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(slots=True)
class Counter:
    """One throttle key as locked for a sign-in: its attempts in the current window, and the
    seconds until that window ends and until its block (if any) lifts."""

    key: str
    attempts: int
    window_left_s: float
    blocked_left_s: float


async def lock(conn: asyncpg.Connection, keys: list[str], window_s: float) -> dict[str, Counter]:
    """The counters of `keys`, locked until the transaction ends (made empty when new, and
    emptied when their window has passed). Locked in key order, so sign-ins sharing keys
    wait for each other instead of deadlocking."""
    ordered = sorted(set(keys))
    await conn.execute(
        """
        INSERT INTO login_throttle (key, attempts, window_ends_at)
        SELECT k, 0, now() + make_interval(secs => $2) FROM unnest($1::text[]) AS k ORDER BY k
        ON CONFLICT (key) DO NOTHING
        """,
        ordered,
        float(window_s),
    )
    await conn.execute(
        "SELECT 1 FROM login_throttle WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE",
        ordered,
    )
    rows = await conn.fetch(
        """
        UPDATE login_throttle SET
            attempts = CASE WHEN window_ends_at <= now() THEN 0 ELSE attempts END,
            window_ends_at = CASE WHEN window_ends_at <= now()
                                  THEN now() + make_interval(secs => $2)
                                  ELSE window_ends_at END
        WHERE key = ANY($1::text[])
        RETURNING key, attempts,
                  extract(epoch FROM window_ends_at - now())::float8 AS window_left_s,
                  greatest(coalesce(extract(epoch FROM blocked_until - now()), 0), 0)::float8
                      AS blocked_left_s
        """,
        ordered,
        float(window_s),
    )
    return {
        r["key"]: Counter(r["key"], r["attempts"], r["window_left_s"], r["blocked_left_s"])
        for r in rows
    }


async def count(
    conn: asyncpg.Connection, keys: list[str], *, block_s: dict[str, float] | None = None
) -> None:
    """One more attempt for each of `keys` (locked by `lock`); `block_s` blocks some of them
    for so many seconds from now."""
    blocks = block_s or {}
    await conn.execute(
        """
        UPDATE login_throttle AS t SET
            attempts = t.attempts + 1,
            blocked_until = CASE WHEN b.seconds IS NULL THEN t.blocked_until
                                 ELSE now() + make_interval(secs => b.seconds) END
        FROM unnest($1::text[], $2::float8[]) AS b (key, seconds)
        WHERE t.key = b.key
        """,
        list(keys),
        [blocks.get(k) for k in keys],
    )


async def uncount(conn: asyncpg.Connection, keys: list[str]) -> None:
    """Take back one attempt of each of `keys` (it succeeded: successes do not count)."""
    await conn.execute(
        "UPDATE login_throttle SET attempts = greatest(attempts - 1, 0) "
        "WHERE key = ANY($1::text[])",
        keys,
    )


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
