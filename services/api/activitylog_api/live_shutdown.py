"""Ending the live streams when the API stops: SIGTERM does not wait for them to drain (each
client gets `bye` and reconnects to another replica)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

import uvicorn

from activitylog.use_cases import live


def end_streams_on_exit_signal(hub: live.LiveHub) -> Callable[[], None]:
    """In a uvicorn worker process (API_WORKERS > 1), end the live streams as soon as
    uvicorn is told to exit (SIGTERM, SIGINT), before it waits for open responses: its
    handler is wrapped. Returns the undo. Elsewhere the runner's stop ends them
    (service.run_api)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    import asyncio

    loop = asyncio.get_running_loop()
    wrapped: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not isinstance(getattr(previous, "__self__", None), uvicorn.Server):
            continue

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(hub.close_streams)
            previous(signum, frame)

        wrapped[sig] = previous
        signal.signal(sig, handler)

    def undo() -> None:
        for sig, previous in wrapped.items():
            signal.signal(sig, previous)

    return undo


def end_live_streams(app: Any) -> None:
    """End every live stream and wait of `app` now (the API is stopping)."""
    hub: live.LiveHub | None = getattr(app.state, "live", None)
    if hub is not None:
        hub.close_streams()
