"""The re-drive loop: due pending retry_queue rows, a batch at a time, until stopped."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from activitylog.domain.retry.outcomes import Outcome, RetryPolicy
from activitylog.runtime import metrics
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.db import is_transient
from activitylog.runtime.logs import get_logger
from activitylog.use_cases.retry.redrive import redrive_due

log = get_logger("activitylog.retry")


class Redriver:
    """Claims due rows with SKIP LOCKED, stores their events, records each outcome."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        policy: RetryPolicy,
        *,
        batch_size: int,
        poll_interval_s: float,
        backoff: Backoff,
        stop: asyncio.Event,
    ) -> None:
        self.pool = pool
        self.policy = policy
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.backoff = backoff
        self.stop = stop

    async def run(self) -> None:
        while not self.stop.is_set():
            try:
                outcomes = await redrive_due(self.pool, self.policy, self.batch_size)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("database unavailable; re-drive waits", error=repr(exc))
                if await self.backoff.wait(self.stop):
                    break
                continue
            self.backoff.reset()
            if outcomes:
                _record_outcomes(outcomes)
            if len(outcomes) < self.batch_size:
                # Drained what is due: wait for the next poll (a full batch goes again now).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=self.poll_interval_s)


def _record_outcomes(outcomes: list[Outcome]) -> None:
    """Metrics and log lines for a committed batch (counted only once it is durable)."""
    resolved = [o for o in outcomes if o.succeeded]
    for o in outcomes:
        label = "resolved" if o.succeeded else "dead" if o.went_dead else "failed"
        metrics.RETRY_ATTEMPTS.labels(label).inc()
    inserted = sum(o.inserted for o in resolved)
    metrics.EVENTS_STORED.labels("retry_queue").inc(inserted)
    metrics.EVENTS_DUPLICATE.labels("retry_queue").inc(len(resolved) - inserted)
    log.info(
        "retry_queue rows attempted",
        rows=len(outcomes),
        resolved=len(resolved),
        failed=len(outcomes) - len(resolved),
        queue_ids=[o.queue_id for o in outcomes],
        event_ids=[str(o.event_id) for o in resolved],
        lead_ids=sorted({o.lead_id for o in outcomes if o.lead_id}),
    )
    for o in outcomes:
        if o.went_dead:
            log.warning(
                "retry_queue row went dead",
                row=o.row_id,
                queue_id=o.queue_id,
                lead=o.lead_id,
                attempts=o.retry_count,
                reason=o.error,
            )
        elif not o.succeeded:
            log.info(
                "retry_queue row will be retried",
                row=o.row_id,
                queue_id=o.queue_id,
                attempts=o.retry_count,
                next_retry_at=o.next_retry_at.isoformat() if o.next_retry_at else None,
                reason=o.error,
            )
