"""The re-drive loop: due pending retry_queue rows, a batch at a time, until stopped."""

from __future__ import annotations

import asyncio

import asyncpg

from activitylog.domain.retry.outcomes import Outcome, RetryPolicy
from activitylog.runtime import metrics
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.logs import get_logger
from activitylog.runtime.service_loop import Next, run_loop
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
        await run_loop(
            self._step,
            stop=self.stop,
            backoff=self.backoff,
            job="re-drive",
            interval_s=self.poll_interval_s,
        )

    async def _step(self) -> Next:
        outcomes = await redrive_due(self.pool, self.policy, self.batch_size)
        if outcomes:
            _record_outcomes(outcomes)
        # A full batch goes again now; fewer means what is due is drained: wait for the poll.
        return Next.AGAIN if len(outcomes) >= self.batch_size else Next.WAIT


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
