"""Counter compaction on a schedule: old arrival minutes dropped, old hours rolled into days."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg

from activitylog.counters.rollups import compaction_cutoffs
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.logs import get_logger
from activitylog.storage import analytics, event_counts
from activitylog_retry.periodic import every

log = get_logger("activitylog.retry")


class Compactor:
    """Compacts `event_counts` every `interval_s`; replicas take turns (advisory lock)."""

    def __init__(
        self, pool: asyncpg.Pool, *, interval_s: float, backoff: Backoff, stop: asyncio.Event
    ) -> None:
        self.pool = pool
        self.interval_s = interval_s
        self.backoff = backoff
        self.stop = stop

    async def run(self) -> None:
        await every(
            self.interval_s, self.compact, stop=self.stop, backoff=self.backoff, job="compaction"
        )

    async def compact(self) -> None:
        async with self.pool.acquire() as conn:
            done = await event_counts.compact(conn, compaction_cutoffs(datetime.now(UTC)))
            await analytics.compact(conn)  # shard rows folded, zeros dropped
        if done.minutes_dropped or done.hours_rolled:
            log.info(
                "counters compacted",
                minutes_dropped=done.minutes_dropped,
                hours_rolled=done.hours_rolled,
            )
