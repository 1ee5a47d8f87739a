"""Fixtures of the retry tests: fast retry settings and rows put straight into retry_queue."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import pytest

from activitylog.domain.dead_letters import DeadLetter, RetryRow, RetryStatus
from activitylog.domain.retry.outcomes import RetryPolicy
from activitylog.runtime.settings import Settings
from activitylog.storage import retry_queue

AddRow = Callable[..., Awaitable[RetryRow]]


@pytest.fixture
def retry_settings(settings: Settings) -> Settings:
    """Retries a fraction of a second apart, so a test sees several attempts quickly."""
    return settings.model_copy(
        update={
            "retry_backoff_initial_s": 0.05,
            "retry_backoff_max_s": 0.2,
            "retry_max_attempts": 3,
            "retry_poll_interval_s": 0.05,
        }
    )


@pytest.fixture
def policy(retry_settings: Settings) -> RetryPolicy:
    return RetryPolicy.from_settings(retry_settings)


@pytest.fixture
def add_row(pool: asyncpg.Pool) -> AddRow:
    """Insert one retry_queue row as the ingest would, and return it as stored."""

    async def add(
        payload: Any,
        *,
        queue_id: str | None = None,
        status: RetryStatus = RetryStatus.PENDING,
        reason: str = "test",
        lead_id: str | None = None,
        next_retry_at: datetime | None = None,
    ) -> RetryRow:
        queue_id = queue_id or f"{uuid.uuid4().int % 10**9}-0"
        text = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
        if next_retry_at is None and status is RetryStatus.PENDING:
            next_retry_at = datetime.now(UTC)
        async with pool.acquire() as conn:
            await retry_queue.add(
                conn, [DeadLetter(queue_id, lead_id, text, reason, status, next_retry_at)]
            )
            row = await retry_queue.get_by_queue_id(conn, queue_id)
        assert row is not None
        return row

    return add


@pytest.fixture
def fetch_row(pool: asyncpg.Pool) -> Callable[[int], Awaitable[RetryRow]]:
    """The row as stored now."""

    async def fetch(row_id: int) -> RetryRow:
        async with pool.acquire() as conn:
            row = await retry_queue.get(conn, row_id)
        assert row is not None
        return row

    return fetch
