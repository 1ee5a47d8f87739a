"""The state of a test's stream, as a condition to wait for."""

from __future__ import annotations

import redis.asyncio as aioredis

from activitylog.runtime.settings import Settings
from activitylog.storage.stream import stream_stats


async def stream_drained(redis: aioredis.Redis, settings: Settings) -> bool:
    """Every entry delivered to the ingest group and acknowledged."""
    stats = await stream_stats(redis, settings.activity_stream, settings.ingest_group)
    return stats.pending == 0 and stats.lag == 0
