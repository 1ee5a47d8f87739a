"""SQL for `watch_rules` (expected sources) and `watch_alerts` (what was announced about them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from activitylog.domain.watch.rules import WatchRule, Window


def _rule(row: asyncpg.Record) -> WatchRule:
    window = (
        Window(row["window_start"], row["window_end"], row["time_zone"])
        if row["window_start"] is not None
        else None
    )
    return WatchRule(
        pattern=row["pattern"],
        max_silence=timedelta(seconds=row["max_silence_s"]),
        window=window,
        created_at=row["created_at"],
        id=row["id"],
    )


async def add(conn: asyncpg.Connection, rule: WatchRule) -> WatchRule:
    """Keep `rule`; a rule for the same pattern is replaced (its limit and window change)."""
    row = await conn.fetchrow(
        """
        INSERT INTO watch_rules AS w (pattern, max_silence_s, window_start, window_end, time_zone)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (pattern) DO UPDATE
            SET max_silence_s = EXCLUDED.max_silence_s, window_start = EXCLUDED.window_start,
                window_end = EXCLUDED.window_end, time_zone = EXCLUDED.time_zone
        RETURNING *
        """,
        rule.pattern,
        int(rule.max_silence.total_seconds()),
        rule.window.start if rule.window else None,
        rule.window.end if rule.window else None,
        rule.window.tz if rule.window else "UTC",
    )
    assert row is not None
    return _rule(row)


async def list_rules(conn: asyncpg.Connection) -> list[WatchRule]:
    return [_rule(r) for r in await conn.fetch("SELECT * FROM watch_rules ORDER BY pattern")]


async def remove(conn: asyncpg.Connection, key: str) -> WatchRule | None:
    """Remove the rule with this id or pattern, and what was announced under it."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "DELETE FROM watch_rules WHERE pattern = $1 OR ($2::bigint IS NOT NULL AND id = $2)"
            " RETURNING *",
            key,
            int(key) if key.isdigit() and len(key) < 19 else None,
        )
        if row is None:
            return None
        await conn.execute("DELETE FROM watch_alerts WHERE rule = $1", row["pattern"])
    return _rule(row)


# -- Announcements -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Announced:
    """The state last announced for (rule, source, kind)."""

    rule: str
    source: str
    kind: str  # 'silence' or 'rate'
    firing: bool
    since: datetime
    last_seen: datetime | None
    detail: str


def _announced(row: asyncpg.Record) -> Announced:
    return Announced(
        row["rule"],
        row["source"],
        row["kind"],
        row["firing"],
        row["since"],
        row["last_seen"],
        row["detail"],
    )


async def announced(conn: asyncpg.Connection, *, firing_only: bool = False) -> list[Announced]:
    rows = await conn.fetch(
        "SELECT * FROM watch_alerts WHERE firing OR NOT $1 ORDER BY kind, source, rule",
        firing_only,
    )
    return [_announced(r) for r in rows]


async def claim_change(
    conn: asyncpg.Connection,
    *,
    rule: str,
    source: str,
    kind: str,
    firing: bool,
    last_seen: datetime | None,
    detail: str,
) -> Announced | None:
    """Record a change of state, in the caller's transaction; None if it is already recorded.

    The row stays locked until the caller commits, so a second replica making the same change
    waits, then finds it made and gets None: exactly one replica announces each change (and
    if its post fails it rolls back, and the change is claimed again later). A first state
    of "not firing" is recorded without being a change worth announcing.
    """
    row = await conn.fetchrow(
        """
        INSERT INTO watch_alerts AS a (rule, source, kind, firing, since, last_seen, detail)
        VALUES ($1, $2, $3, $4, now(), $5, $6)
        ON CONFLICT (rule, source, kind) DO UPDATE
            SET firing = EXCLUDED.firing, since = EXCLUDED.since,
                last_seen = EXCLUDED.last_seen, detail = EXCLUDED.detail
            WHERE a.firing IS DISTINCT FROM EXCLUDED.firing
        RETURNING *, (xmax = 0) AS inserted
        """,
        rule,
        source,
        kind,
        firing,
        last_seen,
        detail,
    )
    if row is None or (row["inserted"] and not firing):
        return None
    return _announced(row)


async def forget(conn: asyncpg.Connection, rules: list[str]) -> int:
    """Drop the announcements of rules that no longer exist (never alerting on them again)."""
    result = await conn.execute(
        "DELETE FROM watch_alerts WHERE NOT (rule = ANY($1::text[]))", rules
    )
    return int(result.rsplit(" ", 1)[-1])
