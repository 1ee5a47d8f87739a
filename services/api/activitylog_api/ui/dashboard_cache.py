"""The dashboard's per-day counts of closed days (before today, UTC), cached per process.

Counting 30 days live means reading every event of the month (about half a second at a
million events); those days barely change, so they are kept for a few minutes and refreshed
in the background, while today and the 48-hour chart are always counted live. An event that
arrives late for a past day (a backfill) shows in the 30-day chart within `TTL_S`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from litestar import Litestar

from activitylog.runtime.logs import get_logger
from activitylog.storage.activity_log.stats import counts_per_bucket

TTL_S = 300.0
DAYS = 30
STATE_KEY = "ui_closed_days"

log = get_logger("activitylog.ui")


@dataclass(frozen=True, slots=True)
class _Entry:
    since: datetime
    until: datetime
    rows: list[Any]
    computed_at: float


class ClosedDays:
    """Per-day, per-category counts in [since, until), refreshed after TTL_S (stale served)."""

    def __init__(self) -> None:
        self._entry: _Entry | None = None
        self._task: asyncio.Task[_Entry] | None = None

    async def rows(self, pool: asyncpg.Pool, since: datetime, until: datetime) -> list[Any]:
        entry = self._entry
        if entry is not None and (entry.since, entry.until) == (since, until):
            if time.monotonic() - entry.computed_at > TTL_S and not self._running():
                self._task = self._start(pool, since, until)
            return entry.rows
        # Nothing for this window yet (first view, or a new day began): count it now,
        # joining a count already under way rather than starting a second one.
        task = self._task
        if task is None or task.done() or not self._for(task, since, until):
            task = self._task = self._start(pool, since, until)
        return (await asyncio.shield(task)).rows

    def prefetch(self, pool: asyncpg.Pool, since: datetime, until: datetime) -> None:
        """Count in the background unless the window is fresh or being counted."""
        entry = self._entry
        fresh = (
            entry is not None
            and (entry.since, entry.until) == (since, until)
            and time.monotonic() - entry.computed_at <= TTL_S
        )
        if not fresh and not self._running():
            self._task = self._start(pool, since, until)

    def _running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _for(self, task: asyncio.Task[_Entry], since: datetime, until: datetime) -> bool:
        return getattr(task, "window", None) == (since, until)

    def _start(self, pool: asyncpg.Pool, since: datetime, until: datetime) -> asyncio.Task[_Entry]:
        task = asyncio.create_task(self._count(pool, since, until))
        task.window = (since, until)  # type: ignore[attr-defined]
        task.add_done_callback(_log_failure)
        return task

    async def _count(self, pool: asyncpg.Pool, since: datetime, until: datetime) -> _Entry:
        async with pool.acquire() as conn:
            rows = await counts_per_bucket(conn, "day", since, until)
        entry = _Entry(since, until, rows, time.monotonic())
        self._entry = entry
        return entry


def closed_days_of(app: Litestar) -> ClosedDays:
    """The app's cache (one per app, so each test's app starts empty)."""
    cache: ClosedDays | None = app.state.get(STATE_KEY)
    if cache is None:
        cache = app.state[STATE_KEY] = ClosedDays()
    return cache


def window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """[first day, today) of the 30-day chart, in UTC."""
    now = now or datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=DAYS - 1), today


def warm(app: Litestar, pool: asyncpg.Pool) -> None:
    """Start counting the closed days in the background (the login page calls this, so the
    dashboard a person lands on after signing in is already counted)."""
    cache = closed_days_of(app)
    since, until = window()
    cache.prefetch(pool, since, until)


def _log_failure(task: asyncio.Task[_Entry]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("dashboard counts failed", error=repr(task.exception()))
