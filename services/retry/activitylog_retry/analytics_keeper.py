"""Folds newly stored events into the analytics, shortly after the write path noted them."""

from __future__ import annotations

from activitylog.analytics import keeping
from activitylog.runtime import metrics
from activitylog.storage import analytics_queue
from activitylog_retry.periodic import PeriodicJob


class AnalyticsKeeper(PeriodicJob):
    """Drains `analytics_queue` every `interval_s`; replicas share the notes (SKIP LOCKED)."""

    job = "analytics"

    async def step(self) -> None:
        async with self.pool.acquire() as conn:
            # A full batch goes again at once; stopping waits for one batch at most.
            while await keeping.drain(conn) and not self.stop.is_set():
                pass
            metrics.ANALYTICS_QUEUE.set(await analytics_queue.length(conn))
