"""Folds newly stored events into the analytics, shortly after the write path noted them."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from activitylog.analytics import keeping
from activitylog.runtime import metrics
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.db import is_transient
from activitylog.runtime.logs import get_logger
from activitylog.storage import analytics_queue

log = get_logger("activitylog.retry")


class AnalyticsKeeper:
    """Drains `analytics_queue` every `interval_s`; replicas share the notes (SKIP LOCKED)."""

    def __init__(
        self, pool: asyncpg.Pool, *, interval_s: float, backoff: Backoff, stop: asyncio.Event
    ) -> None:
        self.pool = pool
        self.interval_s = interval_s
        self.backoff = backoff
        self.stop = stop

    async def run(self) -> None:
        while not self.stop.is_set():
            try:
                async with self.pool.acquire() as conn:
                    # A full batch goes again at once; stopping waits for one batch at most.
                    while await keeping.drain(conn) and not self.stop.is_set():
                        pass
                    metrics.ANALYTICS_QUEUE.set(await analytics_queue.length(conn))
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("database unavailable; analytics wait", error=repr(exc))
                if await self.backoff.wait(self.stop):
                    return
                continue
            self.backoff.reset()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=self.interval_s)
