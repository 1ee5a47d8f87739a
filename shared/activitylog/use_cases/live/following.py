"""A live stream's reading of the log: rows above a horizon, each sent once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg

from activitylog.domain.followers import LogPlace
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.db import is_transient
from activitylog.runtime.logs import get_logger
from activitylog.storage import live as live_sql
from activitylog.storage.live import Scope, place_of
from activitylog.use_cases.live.hub import Listener, LiveHub
from activitylog.use_cases.live.limits import (
    FALLBACK_POLL_S,
    MAX_BAND,
    MAX_ROWS_PER_WAKE,
    TAIL_PAGE,
)

log = get_logger("activitylog.live")

# -- a live stream's reading of the log ----------------------------------------------------


class LogFollower:
    """What is new in the log for one live stream, each row once (see storage.live)."""

    def __init__(self, scope: Scope, cursor: LogPlace) -> None:
        self.scope = scope
        self.cursor = cursor
        self._sent: dict[uuid.UUID, LogPlace] = {}

    @property
    def token(self) -> str:
        """Where a stream resumes (its SSE event id): its horizon, `tx.position`."""
        return f"{self.cursor.tx}.{self.cursor.position}"

    @staticmethod
    def parse_token(text: str | None) -> LogPlace | None:
        if not text:
            return None
        tx, _, position = text.strip().partition(".")
        if not (tx.isdigit() and position.isdigit()) or len(tx) > 19 or len(position) > 19:
            return None
        place = LogPlace(int(tx), int(position))
        return place if place.tx < 2**63 and place.position < 2**63 else None

    @classmethod
    async def starting(
        cls, conn: asyncpg.Connection, scope: Scope, resume: LogPlace | None = None
    ) -> LogFollower:
        """From `resume` (a stream's last event id: what was stored after it, perhaps again
        a row sent before), else from now: every row visible now counts as sent."""
        if resume is not None:
            return cls(scope, resume)
        follower = cls(scope, await live_sql.horizon(conn))
        # Rows above the horizon (transactions ended while an older one still runs) are
        # visible already: not new. Remember them, as if sent.
        band = await live_sql.tail(conn, follower.cursor, scope, MAX_BAND)
        follower._sent = {row["id"]: place_of(row) for row in band.rows}
        if len(band.rows) >= MAX_BAND:
            follower.cursor = place_of(band.rows[-1])
            follower._sent.clear()
        return follower

    async def arrived_since(
        self, conn: asyncpg.Connection, since: datetime, limit: int = TAIL_PAGE
    ) -> list[asyncpg.Record]:
        """Rows stored since `since` (a page's time), oldest first: what a page rendered
        then may lack, read once before following (sent even if counted as seen)."""
        rows = await live_sql.arrived_since(conn, since, self.scope, limit)
        for row in rows:
            place = place_of(row)
            if place > self.cursor:
                self._sent[row["id"]] = place
        return rows

    async def read(
        self, conn: asyncpg.Connection, max_rows: int = MAX_ROWS_PER_WAKE
    ) -> list[asyncpg.Record]:
        """The rows in scope stored since the last read, in log order."""
        out: list[asyncpg.Record] = []
        after = self.cursor
        first_horizon: LogPlace | None = None
        complete = False
        while len(out) < max_rows:
            found = await live_sql.tail(conn, after, self.scope, TAIL_PAGE)
            first_horizon = first_horizon or found.horizon
            out += self._unsent(found.rows)
            if len(found.rows) < TAIL_PAGE:
                complete = True
                break
            after = place_of(found.rows[-1])
        assert first_horizon is not None
        moved = first_horizon if complete else min(first_horizon, after)
        self.cursor = max(self.cursor, moved)
        self._sent = {i: p for i, p in self._sent.items() if p > self.cursor}
        if len(self._sent) > MAX_BAND:
            self.cursor = max(self._sent.values())
            self._sent.clear()
        return out

    def _unsent(self, rows: list[asyncpg.Record]) -> list[asyncpg.Record]:
        out = []
        for row in rows:
            if row["id"] in self._sent:
                continue
            place = place_of(row)
            if place > self.cursor:
                self._sent[row["id"]] = place
            out.append(row)
        return out


async def follow(
    hub: LiveHub,
    listener: Listener,
    pool: asyncpg.Pool,
    follower: LogFollower,
    *,
    poll_s: float = FALLBACK_POLL_S,
    max_rows: int = MAX_ROWS_PER_WAKE,
) -> AsyncIterator[list[asyncpg.Record]]:
    """New rows for `follower`, one list per look at the database (an empty list when there
    was nothing new: the caller may send a keep-alive). It looks when an announcement it
    wants arrives, and every `poll_s` seconds anyway. Ends when the hub closes."""
    backoff = Backoff(0.5, poll_s)
    while not hub.closing.is_set():
        listener.woken.clear()
        try:
            async with pool.acquire() as conn:
                rows = await follower.read(conn, max_rows)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("live stream cannot read the log; retrying", error=repr(exc))
            yield []
            if await backoff.wait(hub.closing):
                return
            continue
        backoff.reset()
        yield rows
        if len(rows) >= max_rows:
            continue  # more may wait behind a full read
        await hub.until(listener.woken, poll_s)
