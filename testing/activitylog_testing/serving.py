"""Services run inside the test's or benchmark's own event loop, the API among them."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx

from activitylog.runtime.settings import Settings
from activitylog_api.service import run_api
from activitylog_testing.polling import wait_for


async def answering(
    http: httpx.AsyncClient,
    path: str = "/health/live",
    *,
    timeout: float = 30,  # noqa: ASYNC109 - handed to wait_for, the deadline of many checks
    message: str = "the API to listen",
) -> None:
    """Wait until `path` answers 200 (a refused connection is not yet an answer)."""

    async def up() -> bool:
        try:
            return (await http.get(path)).status_code == 200
        except httpx.TransportError:
            return False

    await wait_for(up, timeout=timeout, message=message)


@contextlib.asynccontextmanager
async def running(
    service: Callable[[asyncio.Event], Awaitable[None]],
) -> AsyncIterator[asyncio.Event]:
    """Run an async service in this process for the duration of the block."""
    stop = asyncio.Event()
    task = asyncio.create_task(service(stop))
    try:
        yield stop
        if task.done():
            task.result()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


@dataclass
class ServedApi:
    """A running API: its settings, base URL and an HTTP client on it."""

    settings: Settings
    url: str
    http: httpx.AsyncClient

    def client(self, key: str | None) -> httpx.AsyncClient:
        """A client sending `key` as x-api-key (or no key)."""
        headers = {"x-api-key": key} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60)


@contextlib.asynccontextmanager
async def serving_api(settings: Settings) -> AsyncIterator[ServedApi]:
    """Serve the API in this process on `settings.api_port` for the block, from the moment
    /health/live answers."""
    url = f"http://127.0.0.1:{settings.api_port}"
    async with (
        running(functools.partial(run_api, settings)),
        httpx.AsyncClient(base_url=url, timeout=60) as http,
    ):
        await answering(http, timeout=20, message="the API to listen")
        yield ServedApi(settings, url, http)
