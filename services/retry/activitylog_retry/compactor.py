"""Counter compaction on a schedule: old arrival minutes dropped, old hours rolled into days."""

from __future__ import annotations

from datetime import UTC, datetime

from activitylog.domain.counters.rollups import compaction_cutoffs
from activitylog.runtime.logs import get_logger
from activitylog.storage import analytics, event_counts
from activitylog_retry.periodic import PeriodicJob

log = get_logger("activitylog.retry")


class Compactor(PeriodicJob):
    """Compacts `event_counts` every `interval_s`; replicas take turns (advisory lock)."""

    job = "compaction"

    async def step(self) -> None:
        async with self.pool.acquire() as conn:
            done = await event_counts.compact(conn, compaction_cutoffs(datetime.now(UTC)))
            await analytics.compact(conn)  # shard rows folded, zeros dropped
        if done.minutes_dropped or done.hours_rolled or done.days_rolled:
            log.info(
                "counters compacted",
                minutes_dropped=done.minutes_dropped,
                hours_rolled=done.hours_rolled,
                days_rolled=done.days_rolled,
            )
