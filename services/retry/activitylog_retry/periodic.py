"""The retry service's periodic jobs share one loop: a step every interval, a database
outage a back-off, anything else a failure of the service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg

from activitylog.runtime.backoff import Backoff
from activitylog.runtime.db import is_transient
from activitylog.runtime.logs import get_logger

log = get_logger("activitylog.retry")


async def every(
    interval_s: float,
    step: Callable[[], Awaitable[object]],
    *,
    stop: asyncio.Event,
    backoff: Backoff,
    job: str,
) -> None:
    """Run `step` every `interval_s` until `stop` is set; `job` names it in the log."""
    while not stop.is_set():
        try:
            await step()
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("database unavailable; job waits", job=job, error=repr(exc))
            if await backoff.wait(stop):
                return
            continue
        backoff.reset()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)


class PeriodicJob:
    """A job of the retry service that runs `step` every `interval_s` (see `every`)."""

    job = "periodic job"  # its name in the log

    def __init__(
        self, pool: asyncpg.Pool, *, interval_s: float, backoff: Backoff, stop: asyncio.Event
    ) -> None:
        self.pool = pool
        self.interval_s = interval_s
        self.backoff = backoff
        self.stop = stop

    async def run(self) -> None:
        await every(self.interval_s, self.step, stop=self.stop, backoff=self.backoff, job=self.job)

    async def step(self) -> None:
        raise NotImplementedError
