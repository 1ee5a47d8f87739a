"""Runs async services until SIGTERM/SIGINT, then lets them finish what they hold."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from activitylog.logs import get_logger

log = get_logger("activitylog.cli")

Service = Callable[[asyncio.Event], Awaitable[None]]


async def run_services(services: dict[str, Service], stop: asyncio.Event | None = None) -> None:
    """Run each service as a task; the first signal sets `stop`, a second one cancels."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    tasks = {
        asyncio.create_task(factory(stop), name=name): name for name, factory in services.items()
    }

    def on_signal(signame: str) -> None:
        if stop.is_set():
            log.warning("second signal: cancelling", signal=signame)
            for task in tasks:
                task.cancel()
            return
        log.info("stopping", signal=signame)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig.name)
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    # One service failing takes the process down, so a supervisor restarts it.
                    stop.set()
                    log.error("service failed", service=tasks[task], error=repr(task.exception()))
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
