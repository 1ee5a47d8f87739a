"""Folds newly stored events into the analytics, shortly after the write path noted them."""

from __future__ import annotations

import asyncio

import asyncpg

from activitylog.analytics import keeping
from activitylog.runtime import metrics
from activitylog.runtime.backoff import Backoff
from activitylog.storage import analytics_queue
from activitylog_retry.periodic import every


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
        await every(
            self.interval_s, self.fold, stop=self.stop, backoff=self.backoff, job="analytics"
        )

    async def fold(self) -> None:
        async with self.pool.acquire() as conn:
            # A full batch goes again at once; stopping waits for one batch at most.
            while await keeping.drain(conn) and not self.stop.is_set():
                pass
            metrics.ANALYTICS_QUEUE.set(await analytics_queue.length(conn))
