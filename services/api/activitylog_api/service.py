"""Runs the API under uvicorn in this event loop until `stop` is set, then drains it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

import uvicorn

from activitylog.runtime.logs import get_logger
from activitylog.runtime.settings import Settings
from activitylog_api.app import create_app
from activitylog_api.live_shutdown import end_live_streams

log = get_logger("activitylog.api")

# Requests in flight get this long to finish after SIGTERM.
GRACEFUL_SHUTDOWN_S = 10


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the runner owns SIGTERM and sets `stop`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_api(settings: Settings, stop: asyncio.Event) -> None:
    """Serve on API_HOST:API_PORT until `stop` is set; in-flight requests finish first."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(), name="uvicorn")
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        # Live streams never end by themselves: end them first, or uvicorn would wait for
        # them the whole graceful-shutdown period.
        end_live_streams(app)
        server.should_exit = True
        try:
            await serving
        except SystemExit as exc:  # uvicorn exits this way when startup fails
            raise RuntimeError(f"the API failed to start (exit {exc.code})") from None
    if not stop.is_set():
        raise RuntimeError("the API server stopped on its own")
    log.info("api stopped")


def serve_workers(settings: Settings) -> None:
    """Run API_WORKERS processes on one port under uvicorn's supervisor, until SIGTERM.

    Each worker reads the settings from the environment and drains its requests on SIGTERM.
    """
    # /metrics must add up every worker's figures: prometheus_client's multiprocess mode.
    own_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_dir = tempfile.mkdtemp(prefix="activitylog-api-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir
    try:
        _run_workers(settings)
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)


def _run_workers(settings: Settings) -> None:
    uvicorn.run(
        "activitylog_api.app:app_from_environment",
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        workers=settings.api_workers,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
    )
