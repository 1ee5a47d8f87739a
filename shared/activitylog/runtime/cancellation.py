"""A cancellation that a library reported as an error is still a cancellation."""

from __future__ import annotations

import asyncio


def reraise_if_cancelling() -> None:
    """Raise CancelledError when the current task has a cancel pending.

    A cancel can get lost on its way through a client library: redis-py 8 reports one that
    lands during a read as `ConnectionError("Connection closed by server")`, and Python
    3.11's `asyncio.wait_for` (which redis-py uses) returns the result of an operation that
    completed just as the cancel landed. The task then runs on with the cancel still
    counted, and a shutdown that cancelled it (a lease renewal, the grace period) would wait
    for it forever. Loops that retry on errors, or run until cancelled, call this.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
