"""Wires the ingest worker to PostgreSQL, Redis and metrics, and runs it until stopped."""

from __future__ import annotations

import asyncio

from activitylog.ingest.lease import ConsumerLease
from activitylog.ingest.processor import ProcessorConfig, StreamProcessor
from activitylog.ingest.reporting import announcing
from activitylog.runtime.db import close_pool, create_pool
from activitylog.runtime.logs import get_logger
from activitylog.runtime.settings import Settings
from activitylog.storage.stream import redis_client
from activitylog.use_cases.live import StoredAnnouncer
from activitylog_ingest.worker import IngestWorker

log = get_logger("activitylog.ingest")


async def run_ingest(settings: Settings, stop: asyncio.Event, *, burst: bool = False) -> None:
    """Consume until `stop` is set (`burst`: or the stream is drained); returns after the
    batch in hand is committed."""
    database_url, redis_url = settings.servers()
    redis = redis_client(redis_url)
    # Connections are opened lazily, so a database outage at start is just a back-off.
    pool = await create_pool(database_url, min_size=0, max_size=2)
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
        )
        worker = IngestWorker(
            processor,
            block_ms=settings.ingest_block_ms,
            trim_interval_s=settings.stream_trim_interval_s,
            stop=stop,
            burst=burst,
        )
        # Each stored batch is announced to the API (read-your-writes waits, live streams).
        announcer = StoredAnnouncer(redis, settings.activity_stream)
        with announcing(announcer):
            await worker.run()
        await announcer.drain()
    finally:
        await lease.release()
        await close_pool(pool)
        await redis.aclose()
        log.info("ingest service closed", consumer=lease.name)
