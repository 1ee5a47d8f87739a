"""Wires the ingest worker to PostgreSQL, Redis and metrics, and runs it until stopped."""

from __future__ import annotations

import asyncio

from activitylog.runtime.db import close_pool, create_pool
from activitylog.runtime.settings import Settings
from activitylog.stream.conventions import redis_client
from activitylog.stream.lease import ConsumerLease
from activitylog.stream.processor import ProcessorConfig, StreamProcessor
from activitylog_ingest.worker import IngestWorker, crash_on_marker


async def run_ingest(settings: Settings, stop: asyncio.Event) -> None:
    """Consume until `stop` is set; returns after the batch in hand is committed."""
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError("DATABASE_URL and REDIS_URL must be set (or use `activitylog up`)")
    redis = redis_client(settings.redis_url)
    # Connections are opened lazily, so a database outage at start is just a back-off.
    pool = await create_pool(settings.database_url, min_size=0, max_size=2)
    lease = ConsumerLease(
        redis, settings.activity_stream, settings.ingest_consumer, settings.consumer_lease_ttl_s
    )
    try:
        consumer = await lease.acquire()
        processor = StreamProcessor(
            pool=pool,
            redis=redis,
            stop=stop,
            config=ProcessorConfig.from_settings(settings, consumer=consumer, path="ingest"),
            inspect=crash_on_marker(settings.ingest_fault_crash_marker)
            if settings.ingest_fault_crash_marker
            else None,
        )
        worker = IngestWorker(
            processor,
            block_ms=settings.ingest_block_ms,
            trim_interval_s=settings.stream_trim_interval_s,
            stop=stop,
        )
        await worker.run()
    finally:
        await lease.release()
        await close_pool(pool)
        await redis.aclose()
