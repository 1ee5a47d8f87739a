"""Wires the ingest worker to PostgreSQL, Redis and metrics, and runs it until stopped."""

from __future__ import annotations

import asyncio
import dataclasses

import redis.asyncio as aioredis

from activitylog.ingest.lease import ConsumerLease, ShardLeases
from activitylog.ingest.processor import ProcessorConfig, StreamProcessor
from activitylog.ingest.reporting import announcing
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.db import close_pool, create_pool, keep_session
from activitylog.runtime.logs import get_logger
from activitylog.runtime.settings import Settings
from activitylog.storage.stream import redis_client
from activitylog.use_cases.live import StoredAnnouncer
from activitylog_ingest.shards import ShardedIngest, WorkerFactory
from activitylog_ingest.worker import IngestWorker

log = get_logger("activitylog.ingest")


async def run_ingest(settings: Settings, stop: asyncio.Event, *, burst: bool = False) -> None:
    """Consume until `stop` is set (`burst`: or the stream is drained); returns after the
    batch in hand is committed."""
    database_url, redis_url = settings.servers()
    redis = redis_client(redis_url)
    # Connections are opened lazily, so a database outage at start is just a back-off.
    pool = await create_pool(database_url, min_size=0, max_size=2, reset=keep_session)
    lease = ConsumerLease(
        redis, settings.activity_stream, settings.ingest_consumer, settings.consumer_lease_ttl_s
    )
    try:
        consumer = await lease.acquire()
        config = ProcessorConfig.from_settings(settings, consumer=consumer, path="ingest")
        keys = settings.stream_keys()

        def worker(shard: int, shard_stop: asyncio.Event) -> IngestWorker:
            processor = StreamProcessor(
                pool=pool,
                redis=redis,
                stop=shard_stop,
                config=dataclasses.replace(config, stream=keys[shard]),
            )
            return IngestWorker(
                processor,
                block_ms=settings.ingest_block_ms,
                trim_interval_s=settings.stream_trim_interval_s,
                stop=shard_stop,
                burst=burst,
                stats_keys=keys,
            )

        # Each stored batch is announced to the API (read-your-writes waits, live streams).
        announcer = StoredAnnouncer(redis, settings.activity_stream)
        with announcing(announcer):
            await _consume(settings, redis, consumer, worker, stop, burst=burst)
        await announcer.drain()
    finally:
        await lease.release()
        await close_pool(pool)
        await redis.aclose()
        log.info("ingest service closed", consumer=lease.name)


async def _consume(
    settings: Settings,
    redis: aioredis.Redis,
    consumer: str,
    worker: WorkerFactory,
    stop: asyncio.Event,
    *,
    burst: bool,
) -> None:
    """One shard: its worker. Several: in burst mode every shard at once (a drain needs no
    leases), else the shards this worker leases."""
    shards = settings.activity_stream_shards
    if shards == 1:
        await worker(0, stop).run()
        return
    if burst:
        async with asyncio.TaskGroup() as tasks:
            for shard in range(shards):
                tasks.create_task(worker(shard, stop).run(), name=f"shard-{shard}")
        return
    leases = ShardLeases(
        redis,
        settings.activity_stream,
        consumer,
        shards,
        settings.consumer_lease_ttl_s,
    )
    backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s)
    await ShardedIngest(leases, worker, stop, backoff).run()
