"""What the n8n tests do around n8n: run the activity log it posts to, post a provider's
webhook to it, and wait (with a deadline) for what the activity log stored or queued."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
from n8n_support import N8nHarness

from activitylog.runtime.settings import Settings
from activitylog_ingest.service import run_ingest
from activitylog_retry.service import run_retry
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import ServedApi, running, serving_api
from activitylog_testing.streams import stream_drained


@contextlib.asynccontextmanager
async def activity_log(settings: Settings, *, retry: bool = False) -> AsyncIterator[ServedApi]:
    """The API and an ingest worker, as in production: events go API → stream → table.
    With `retry`, the retry service too: it re-drives the retry queue (an event waiting for
    its lead) and folds the analytics notes in."""
    async with contextlib.AsyncExitStack() as stack:
        api = await stack.enter_async_context(serving_api(settings))
        await stack.enter_async_context(running(functools.partial(run_ingest, settings)))
        if retry:
            await stack.enter_async_context(running(functools.partial(run_retry, settings)))
        yield api


async def stored(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT id, event_type, lead_airtable_id, description, message_content, metadata,"
            " source, execution_id, timestamp FROM lead_activity_log ORDER BY timestamp, id"
        )


async def wait_stored(pool: asyncpg.Pool, n: int, what: str) -> list[asyncpg.Record]:
    async def enough() -> list[asyncpg.Record] | None:
        rows = await stored(pool)
        return rows if len(rows) >= n else None

    rows: list[asyncpg.Record] = await wait_for(enough, timeout=60, message=what)
    return rows


async def retry_rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch("SELECT * FROM retry_queue ORDER BY id")


async def post_webhook(n8n: N8nHarness, path: str, body: dict[str, Any]) -> None:
    """POST a provider's payload to n8n's webhook, as the provider does."""
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(n8n.server.webhook_url(path), json=body)
    assert response.status_code == 200, response.text


async def handled(
    n8n: N8nHarness, settings: Settings, redis: aioredis.Redis, workflow_id: str, n: int
) -> None:
    """Wait until n8n has finished `n` executions of the workflow and the ingest has
    taken everything the API published."""

    async def done() -> bool:
        finished = await n8n.server.finished_executions(workflow_id) >= n
        return finished and await stream_drained(redis, settings)

    await wait_for(done, timeout=30, message=f"{n} executions of {workflow_id} handled")
