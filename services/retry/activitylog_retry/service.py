"""Wires the retry service to PostgreSQL, Redis and the alert webhook; runs until stopped."""

from __future__ import annotations

import asyncio
import dataclasses

from activitylog.domain.retry.outcomes import RetryPolicy
from activitylog.ingest.lease import ConsumerLease
from activitylog.ingest.processor import ProcessorConfig, StreamProcessor
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.db import close_pool, create_pool
from activitylog.runtime.logs import get_logger
from activitylog.runtime.settings import Settings
from activitylog.storage.stream import redis_client
from activitylog_retry.alerts import Alerter, Webhook
from activitylog_retry.analytics_keeper import AnalyticsKeeper, CountersFollower
from activitylog_retry.compactor import Compactor
from activitylog_retry.log_keeper import LogKeeper
from activitylog_retry.redriver import Redriver
from activitylog_retry.stale_entries import StaleEntrySweeper
from activitylog_retry.watcher import WatchConfig, Watcher

log = get_logger("activitylog.retry")


async def run_retry(settings: Settings, stop: asyncio.Event) -> None:
    """Re-drive retry_queue, claim stale stream entries, alert, keep (follow the log) and
    compact the counters, keep the analytics and watch the expected sources, until `stop`
    is set."""
    database_url, redis_url = settings.servers()
    redis = redis_client(redis_url)
    # Lazy connections: a database outage at start is a back-off, not a crash.
    pool = await create_pool(database_url, min_size=0, max_size=6)
    webhook = Webhook(settings.alert_webhook_url, settings.alert_timeout_s)
    # A leased name, like the ingest's: unique among live replicas, kept across restarts.
    lease = ConsumerLease(
        redis,
        settings.activity_stream,
        f"retry-{settings.ingest_consumer}",
        settings.consumer_lease_ttl_s,
    )
    config = ProcessorConfig.from_settings(settings, consumer=await lease.acquire(), path="retry")
    # One processor a shard: the sweep claims and stores stale entries of every shard.
    processors = [
        StreamProcessor(
            pool=pool, redis=redis, stop=stop, config=dataclasses.replace(config, stream=key)
        )
        for key in settings.stream_keys()
    ]
    redriver = Redriver(
        pool,
        RetryPolicy.from_settings(settings),
        batch_size=settings.retry_batch_size,
        poll_interval_s=settings.retry_poll_interval_s,
        backoff=Backoff(settings.backoff_initial_s, settings.backoff_max_s),
        stop=stop,
    )
    alerter = Alerter(
        pool,
        webhook,
        pending_threshold=settings.alert_pending_threshold,
        min_interval_s=settings.alert_min_interval_s,
    )
    compactor = Compactor(
        pool,
        interval_s=settings.counters_compact_interval_s,
        backoff=Backoff(settings.backoff_initial_s, settings.backoff_max_s),
        stop=stop,
    )
    counters = CountersFollower(
        pool,
        interval_s=settings.counters_follow_interval_s,
        backoff=Backoff(settings.backoff_initial_s, settings.backoff_max_s),
        stop=stop,
    )
    keeper = AnalyticsKeeper(
        pool,
        interval_s=settings.analytics_keep_interval_s,
        backoff=Backoff(settings.backoff_initial_s, settings.backoff_max_s),
        stop=stop,
    )
    log_keeper = LogKeeper(
        pool,
        settings,
        backoff=Backoff(settings.backoff_initial_s, settings.backoff_max_s),
        stop=stop,
    )
    watcher = Watcher(
        pool,
        webhook,
        WatchConfig.from_settings(settings),
        backoff=Backoff(settings.backoff_initial_s, settings.backoff_max_s),
        stop=stop,
    )
    log.info("retry service started", consumer=config.consumer)
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(redriver.run(), name="redrive")
            for processor in processors:
                tasks.create_task(
                    StaleEntrySweeper(processor, stop).run(),
                    name=f"stale-entries {processor.config.stream}",
                )
            tasks.create_task(alerter.run(stop, settings.retry_poll_interval_s), name="alerts")
            tasks.create_task(compactor.run(), name="counter-compaction")
            tasks.create_task(watcher.run(), name="watch-rules")
            tasks.create_task(counters.run(), name="counters")
            tasks.create_task(keeper.run(), name="analytics")
            tasks.create_task(log_keeper.run(), name="partitions")
    finally:
        await lease.release()
        await webhook.aclose()
        await close_pool(pool)
        await redis.aclose()
        log.info("retry service stopped", consumer=config.consumer)
