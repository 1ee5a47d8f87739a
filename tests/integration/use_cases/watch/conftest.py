"""Fixtures of the watch tests: fast watch settings, a webhook sink, counters seeded as the
write path would have kept them at an earlier time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import asyncpg
import pytest
import pytest_asyncio

from activitylog.domain.counters.rollups import Basis, CounterKey, Grain, truncate
from activitylog.runtime.settings import Settings
from activitylog.storage import event_counts
from webhook_sink import WebhookSink

SeedArrivals = Callable[[str, datetime, int], Awaitable[None]]


@pytest.fixture
def watch_settings(settings: Settings) -> Settings:
    """The watcher checks ten times a second, so a test sees a change at once."""
    return settings.model_copy(update={"watch_interval_s": 0.1, "watch_rate_min_baseline": 20})


@pytest_asyncio.fixture
async def sink() -> AsyncIterator[WebhookSink]:
    async with WebhookSink() as s:
        yield s


@pytest.fixture
def seed_arrivals(pool: asyncpg.Pool) -> SeedArrivals:
    """`n` events of `source` stored at `when`, in the arrival counters (minute and hour)."""

    async def seed(source: str, when: datetime, n: int) -> None:
        counts = {
            CounterKey(
                Basis.ARRIVAL, grain, truncate(when, grain), "MESSAGING", None, source, None
            ): n
            for grain in (Grain.MINUTE, Grain.HOUR)
        }
        async with pool.acquire() as conn:
            await event_counts.add(conn, counts)

    return seed
