"""The retry service's periodic jobs: a step every interval in the one service loop
(runtime.service_loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg

from activitylog.runtime.backoff import Backoff
from activitylog.runtime.service_loop import Next, run_loop


async def every(
    interval_s: float,
    step: Callable[[], Awaitable[object]],
    *,
    stop: asyncio.Event,
    backoff: Backoff,
    job: str,
) -> None:
    """Run `step` every `interval_s` until `stop` is set; `job` names it in the log."""

    async def waiting_step() -> Next:
        await step()
        return Next.WAIT

    await run_loop(waiting_step, stop=stop, backoff=backoff, job=job, interval_s=interval_s)


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
