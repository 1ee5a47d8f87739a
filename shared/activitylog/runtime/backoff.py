"""Waiting out a back-off (domain.backoff's delays), interruptible by a stop event."""

from __future__ import annotations

import asyncio
import contextlib

from activitylog.domain.backoff import jittered_delay
from activitylog.runtime.cancellation import reraise_if_cancelling


class Backoff:
    """Delays of initial·2ⁿ capped at `maximum`, each drawn from [d/2, d] (equal jitter)."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.attempt = 0

    def next_delay(self) -> float:
        delay = jittered_delay(self.initial, self.maximum, self.attempt)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0

    async def wait(self, stop: asyncio.Event) -> bool:
        """Sleep the next delay; return True if `stop` was set meanwhile.

        Callers back off after catching an error, which may be a cancel in disguise."""
        reraise_if_cancelling()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=self.next_delay())
        return stop.is_set()
