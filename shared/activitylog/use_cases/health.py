"""The system's health figures (`GET /api/internal/activity-health`), without lead data."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from activitylog.contract.stream_format import entry_id_text
from activitylog.contract.times import iso
from activitylog.domain.counters.rollups import hour_window, minute_window
from activitylog.domain.followers import lag_seconds
from activitylog.domain.watch.rules import format_duration
from activitylog.runtime.settings import Settings
from activitylog.storage import event_counts, log_followers, retry_queue, watch_rules
from activitylog.storage.log_followers import Follower
from activitylog.storage.stream import REDIS_OUTAGES, StreamStats, sharded_stats
from activitylog.storage.watch_rules import Announced

HEALTHY = "healthy"
DEGRADED = "degraded"
UNHEALTHY = "unhealthy"


async def _database_figures(pool: asyncpg.Pool) -> dict[str, Any]:
    # From the counters the write path keeps: the cost follows the minutes and hours in
    # the windows, however many events arrived in them.
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        arrivals = await event_counts.arrivals(
            conn, minute_window(now, 60)[0], hour_window(now, 24)[0]
        )
        by_status = await retry_queue.count_by_status(conn)
        unplaced = await retry_queue.count_waiting(conn)
        # What the retry service's watcher announced and has not seen recover yet.
        firing = await watch_rules.announced(conn, firing_only=True)
        # How far the counters and the analytics trail the log (the figures above are
        # exact anyway: they count the rows the counters have not taken in on the fly).
        lag = {
            f.value: round(lag_seconds(await log_followers.untaken_since(conn, f), now), 3)
            for f in Follower
        }
    return {
        "events_last_hour": arrivals.in_minutes,
        "events_last_24h": arrivals.in_hours,
        "retry_queue_size": by_status["pending"],
        "unplaced_events": unplaced,
        "dead_letters": by_status["dead"],
        "last_event": iso(arrivals.last_minute),
        "silent_sources": [_silent(a, now) for a in firing if a.kind == "silence"],
        "rate_drops": [_rate_drop(a) for a in firing if a.kind == "rate"],
        "followers_lag_s": lag,
    }


def _silent(a: Announced, now: datetime) -> dict[str, Any]:
    silent_for = (now - a.last_seen).total_seconds() if a.last_seen else None
    return {
        "source": a.source,
        "rule": a.rule,
        "last_event": iso(a.last_seen),
        "silent_for_s": round(silent_for) if silent_for is not None else None,
        "since": iso(a.since),
    }


def _rate_drop(a: Announced) -> dict[str, Any]:
    return {"source": a.source, "rule": a.rule, "detail": a.detail, "since": iso(a.since)}


async def _oldest_undelivered_age_s(client: aioredis.Redis, stream: str, group: str) -> float:
    """Age of the oldest entry the group has not read yet (0 when it is caught up)."""
    try:
        groups = await client.xinfo_groups(stream)
    except ResponseError:
        return 0.0
    info = next((g for g in groups if _text(g.get("name")) == group), None)
    last = _text(info.get("last-delivered-id")) if info else None
    entries = await client.xrange(stream, min=f"({last}" if last else "-", max="+", count=1)
    if not entries:
        return 0.0
    millis = int(entry_id_text(entries[0][0]).split("-", 1)[0])
    return max(time.time() - millis / 1000, 0.0)


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


async def _stream_figures(client: aioredis.Redis, settings: Settings) -> tuple[StreamStats, float]:
    keys = settings.stream_keys()
    stats = await sharded_stats(client, keys, settings.ingest_group)
    waiting = await asyncio.gather(
        *(_oldest_undelivered_age_s(client, key, settings.ingest_group) for key in keys)
    )
    return stats, max(waiting)


async def health_report(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> dict[str, Any]:
    """The health body; `status` is unhealthy without PostgreSQL, degraded on lag or backlog.

    `reasons` lists why the status is not healthy (empty when it is).
    """
    timeout = settings.api_backend_timeout_s
    db_result, stream_result = await asyncio.gather(
        asyncio.wait_for(_database_figures(pool), timeout),
        asyncio.wait_for(_stream_figures(redis, settings), timeout),
        return_exceptions=True,
    )
    reasons: list[str] = []
    body: dict[str, Any] = {
        "status": HEALTHY,
        "timestamp": iso(datetime.now(UTC)),
        "events_last_hour": None,
        "events_last_24h": None,
        "retry_queue_size": None,
        "unplaced_events": None,
        "dead_letters": None,
        "stream": {"length": None, "pending": None, "lag": None, "oldest_pending_age_s": None},
        "last_event": None,
        "silent_sources": [],
        "rate_drops": [],
        "followers_lag_s": None,
    }
    unhealthy = False
    if isinstance(db_result, BaseException):
        if not isinstance(db_result, (OSError, TimeoutError, asyncpg.PostgresError)):
            raise db_result
        unhealthy = True
        reasons.append(f"PostgreSQL unavailable: {type(db_result).__name__}")
    else:
        body.update(db_result)
        reasons += _database_reasons(db_result, settings)
    if isinstance(stream_result, BaseException):
        if not isinstance(stream_result, (TimeoutError, RedisError, *REDIS_OUTAGES)):
            raise stream_result
        reasons.append(f"Redis unavailable: {type(stream_result).__name__}")
    else:
        body["stream"], more = _stream_reasons(*stream_result, settings)
        reasons += more
    if unhealthy:
        body["status"] = UNHEALTHY
    elif reasons:
        body["status"] = DEGRADED
    body["reasons"] = reasons
    return body


def _database_reasons(figures: dict[str, Any], settings: Settings) -> list[str]:
    """Why the database's figures make health degraded: backlog, silent sources, drops."""
    reasons = []
    if figures["retry_queue_size"] > settings.health_max_retry_queue:
        reasons.append(
            f"retry_queue_size {figures['retry_queue_size']} > {settings.health_max_retry_queue}"
        )
    for silent in figures["silent_sources"]:
        lasted = silent["silent_for_s"]
        silent_for = f" for {format_duration(timedelta(seconds=lasted))}" if lasted else ""
        reasons.append(f"source {silent['source']} silent{silent_for} (rule {silent['rule']})")
    for drop in figures["rate_drops"]:
        reasons.append(f"source {drop['source']} rate drop: {drop['detail']}")
    for follower, lag in figures["followers_lag_s"].items():
        if lag > settings.health_max_follow_lag_s:
            reasons.append(
                f"{follower} trail the log by {lag:.0f}s (> {settings.health_max_follow_lag_s:g}s)"
            )
    return reasons


def _stream_reasons(
    stats: StreamStats, waiting_s: float, settings: Settings
) -> tuple[dict[str, Any], list[str]]:
    """The stream's figures, and why they make health degraded: lag, an old entry."""
    figures = {
        "length": stats.length,
        "pending": stats.pending,
        "lag": stats.lag,
        "oldest_pending_age_s": stats.oldest_pending_age_s,
    }
    reasons = []
    if stats.lag > settings.health_max_stream_lag:
        reasons.append(f"stream lag {stats.lag} > {settings.health_max_stream_lag}")
    oldest = max(waiting_s, stats.oldest_pending_age_s)
    if oldest > settings.health_max_stream_age_s:
        reasons.append(
            f"oldest unprocessed entry is {oldest:.0f}s old "
            f"(> {settings.health_max_stream_age_s:g}s)"
        )
    return figures, reasons
