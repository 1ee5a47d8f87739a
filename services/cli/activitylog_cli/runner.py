"""Runs async services until SIGTERM/SIGINT, then lets them finish what they hold."""

from __future__ import annotations

import asyncio
import faulthandler
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

from activitylog.runtime.logs import get_logger

log = get_logger("activitylog.cli")

Service = Callable[[asyncio.Event], Awaitable[None]]

# After SIGTERM a service finishes the work in hand; one still running after this long is
# stuck on something that ignores the stop signal, and is cancelled (what it holds stays
# pending in the stream or the retry queue, so cancelling loses nothing). Below compose's
# stop_grace_period of 30 s.
SHUTDOWN_GRACE_S = 20.0
# What cancelled services get to unwind (close pools, release leases) before the exit.
EXIT_DEADLINE_S = 5.0
# A stop normally takes well under a second; a service still running this long after the
# signal is logged with where it waits, so a slow stop explains itself before any deadline.
SLOW_STOP_REPORT_S = 5.0


def serve(services: dict[str, Service]) -> None:
    """`run_services` on uvloop: libuv's event loop spends far less CPU per socket operation."""
    uvloop.run(run_services(services, exit_deadline=True))


async def run_services(
    services: dict[str, Service],
    stop: asyncio.Event | None = None,
    *,
    grace_s: float = SHUTDOWN_GRACE_S,
    exit_deadline: bool = False,
) -> None:
    """Run each service as a task; the first signal sets `stop`, a second one (or the grace
    period running out) cancels what is still running. With `exit_deadline` (a process of
    its own) the process also ends, stacks printed, if it outlives the grace period."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    tasks = {
        asyncio.create_task(factory(stop), name=name): name for name, factory in services.items()
    }

    def cancel_running(why: str) -> None:
        for task, name in tasks.items():
            if not task.done():
                log.warning("cancelling service", service=name, why=why, stack=_stack(task))
                task.cancel()

    def on_signal(signame: str) -> None:
        if stop.is_set():
            cancel_running(f"second {signame}")
            return
        log.info("stopping", signal=signame)
        stop.set()
        if not exit_deadline:
            return
        # Last resort, from a C thread that needs no event loop: a process still alive well
        # after the grace period prints every thread's stack (the cause, in its log) and exits.
        faulthandler.dump_traceback_later(grace_s + EXIT_DEADLINE_S, exit=True)

    async def enforce_grace() -> None:
        await stop.wait()
        report_after = min(SLOW_STOP_REPORT_S, grace_s / 2)
        await asyncio.sleep(report_after)
        for task, name in tasks.items():
            if not task.done():
                log.warning(
                    "service still stopping",
                    service=name,
                    seconds=report_after,
                    waiting_in=_stack(task),
                )
        await asyncio.sleep(grace_s - report_after)
        cancel_running(f"still running {grace_s:g}s after the stop signal")

    watchdog = asyncio.create_task(enforce_grace(), name="shutdown-grace")

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
        watchdog.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def _stack(task: asyncio.Task[None]) -> str:
    """Where a task is waiting, outermost first, for the log line of a service that did not
    stop. `Task.get_stack` shows only the outer frame of a suspended coroutine, so this
    follows the chain of awaits down to what it waits on."""
    parts: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None and len(parts) < 32:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
        if frame is None:
            parts.append(type(awaited).__qualname__)  # a future, or a C-level awaitable
            break
        parts.append(f"{frame.f_code.co_qualname}:{frame.f_lineno}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
    return " -> ".join(parts)
