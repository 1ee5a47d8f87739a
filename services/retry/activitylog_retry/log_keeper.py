"""The log's upkeep on a schedule: next months' partitions created ahead, the whole log's
statistics kept fresh, and retention (expired months archived, then dropped) where it is
configured (docs/RUNBOOK.md §18)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg

from activitylog.domain.partitions import month_label
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.logs import get_logger
from activitylog.runtime.settings import Settings
from activitylog.use_cases import partitions, retention
from activitylog_retry.periodic import PeriodicJob

log = get_logger("activitylog.retry")


class LogKeeper(PeriodicJob):
    """Creates partitions ahead, analyses the whole log when its months have moved on, and
    runs retention every `interval_s`; replicas take turns (advisory locks), and every step
    is idempotent."""

    job = "partitions and retention"

    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, *, backoff: Backoff, stop: asyncio.Event
    ) -> None:
        super().__init__(
            pool, interval_s=settings.partitions_interval_s, backoff=backoff, stop=stop
        )
        self.settings = settings

    async def step(self) -> None:
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            created = await partitions.maintain(conn, now, self.settings.partitions_ahead)
            if created:
                log.info("partitions created", months=[month_label(m) for m in created])
            if await partitions.refresh_statistics(conn):
                log.info("the whole log analysed: its statistics had fallen behind its months")
            if self.settings.retention_months is None:
                return
            if not self.settings.archive_url:
                # Never drop what is not archived.
                log.warning("RETENTION_MONTHS is set but ARCHIVE_URL is not: nothing expired")
                return
            done = await retention.run(
                conn,
                now=now,
                keep_months=self.settings.retention_months,
                archive_url=self.settings.archive_url,
            )
        if done.dropped or done.deleted or done.deferred:
            log.info(
                "retention",
                dropped=[month_label(m) for m in done.dropped],
                deleted=sum(n for _, n in done.deleted),
                deferred=[month_label(m) for m in done.deferred],
                archived=[f.path for f in done.archived],
            )
