"""The one service loop: a step, again or after an interval, until a stop signal; an outage
backs off and is tried again, anything else is the service's failure (arq's worker loop,
reduced to what every job here needs).

Every periodic job of the retry service, the re-drive, the alerts, the stale-entry sweep,
the stream consumer and the lead-sync daemon run in it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from enum import Enum

from activitylog.runtime.backoff import Backoff
from activitylog.runtime.cancellation import reraise_if_cancelling
from activitylog.runtime.db import is_transient
from activitylog.runtime.logs import get_logger

log = get_logger("activitylog.service")


class Next(Enum):
    """What a step asks for: go again at once (more to do), wait the interval, or stop."""

    AGAIN = "again"
    WAIT = "wait"
    STOP = "stop"


def database_outage(exc: BaseException) -> bool:
    """The default handler's test: PostgreSQL unreachable or restarting is an outage."""
    return is_transient(exc)


async def run_loop(
    step: Callable[[], Awaitable[Next | None]],
    *,
    stop: asyncio.Event,
    backoff: Backoff,
    job: str,
    interval_s: float = 0.0,
    outage: Callable[[BaseException], bool | Next] = database_outage,
    last_step: bool = False,
) -> None:
    """Run `step` until it returns `Next.STOP` or `stop` is set (`last_step`: once more,
    then). A step returning None waits `interval_s`. An exception `outage` accepts (True)
    is logged and backed off; one it answers `Next.AGAIN` for was dealt with (step again at
    once); any other propagates."""
    while True:
        if stop.is_set() and not last_step:
            return
        try:
            asked = await step() or Next.WAIT
        except Exception as exc:
            reraise_if_cancelling()
            verdict = outage(exc)
            if verdict is Next.AGAIN:
                continue
            if not verdict:
                raise
            log.warning("outage; job backs off", job=job, error=repr(exc))
            if await backoff.wait(stop) and not last_step:
                return
            if stop.is_set():
                return
            continue
        backoff.reset()
        if asked is Next.STOP or stop.is_set():
            return
        if asked is Next.WAIT and interval_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
