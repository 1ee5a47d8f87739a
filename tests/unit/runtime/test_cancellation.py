"""A cancel that a library reports as an error, or swallows, still stops our loops."""

from __future__ import annotations

import asyncio

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from activitylog.runtime.backoff import Backoff


async def _read_reporting_cancel_as_error() -> None:
    """What redis-py 8 does when a cancel lands during a read."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        raise RedisConnectionError("Connection closed by server.") from None


async def test_a_loop_that_backs_off_on_redis_errors_still_obeys_cancel() -> None:
    async def keeps_trying() -> None:
        backoff = Backoff(0.001, 0.001)
        stop = asyncio.Event()
        while True:
            try:
                await _read_reporting_cancel_as_error()
            except RedisError:
                if await backoff.wait(stop):
                    return

    task = asyncio.create_task(keeps_trying())
    await asyncio.sleep(0)  # into the read
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done, "the cancel was taken for a connection error and the loop ran on"
    assert task.cancelled()
