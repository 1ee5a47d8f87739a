"""The state of a test's stream, as a condition to wait for."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from activitylog.runtime.settings import Settings
from activitylog.storage.stream import sharded_stats


async def stream_drained(redis: aioredis.Redis, settings: Settings) -> bool:
    """Every entry of every shard delivered to the ingest group and acknowledged."""
    stats = await sharded_stats(redis, settings.stream_keys(), settings.ingest_group)
    return stats.pending == 0 and stats.lag == 0


async def drain(settings: Settings) -> None:
    """Store everything the stream holds with one burst-mode ingest worker, then return:
    no background worker, no polling (arq's burst mode)."""
    from activitylog_ingest.service import run_ingest

    await asyncio.wait_for(run_ingest(settings, asyncio.Event(), burst=True), timeout=60)
