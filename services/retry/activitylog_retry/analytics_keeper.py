"""The counters and the analytics follow the log: shortly after rows are stored, these jobs
take them in (one replica at a time per follower) and report how far each trails."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from activitylog.domain.followers import lag_seconds
from activitylog.runtime import metrics
from activitylog.storage import analytics_queue, log_followers
from activitylog.storage.log_followers import Follower
from activitylog.use_cases.analytics import keeping
from activitylog.use_cases.counters import following
from activitylog_retry.periodic import PeriodicJob


async def _report_lag(conn: asyncpg.Connection, follower: Follower) -> None:
    since = await log_followers.untaken_since(conn, follower)
    metrics.FOLLOWER_LAG.labels(follower.value).set(lag_seconds(since, datetime.now(UTC)))


class CountersFollower(PeriodicJob):
    """Adds the rows stored since the last step to the event counters, every `interval_s`
    once caught up; replicas take turns (the cursor row, FOR UPDATE SKIP LOCKED)."""

    job = "counters"

    async def step(self) -> None:
        async with self.pool.acquire() as conn:
            # A full step goes again at once; stopping waits for one step at most.
            while (taken := await following.step(conn)) and not self.stop.is_set():
                metrics.FOLLOWER_ROWS.labels(Follower.COUNTERS.value).inc(taken)
            await _report_lag(conn, Follower.COUNTERS)


class AnalyticsKeeper(PeriodicJob):
    """Folds the rows stored since the last step (and the leads noted) into the analytics,
    every `interval_s` once caught up; replicas take turns."""

    job = "analytics"

    async def step(self) -> None:
        async with self.pool.acquire() as conn:
            while (taken := await keeping.drain(conn)) and not self.stop.is_set():
                metrics.FOLLOWER_ROWS.labels(Follower.ANALYTICS.value).inc(taken)
            await _report_lag(conn, Follower.ANALYTICS)
            metrics.ANALYTICS_QUEUE.set(await analytics_queue.length(conn))
