"""Waiting for a condition with a deadline, instead of sleeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def wait_for(
    check: Callable[[], Awaitable[Any]],
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - the deadline of many checks, not of one await
    interval: float = 0.05,
    message: str = "condition",
) -> Any:
    """Poll `check` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}; last value {last!r}")
