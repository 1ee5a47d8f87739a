"""Expected sources on the real services: a silence degrades health and is announced once
(with two retry replicas), then its recovery once; a rate drop is flagged; gauges per rule."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import SeedArrivals

import asyncio
import functools
from datetime import UTC, datetime, timedelta

import asyncpg
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from activitylog.domain.counters.rollups import Grain, truncate
from activitylog.domain.watch.rules import WatchRule
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.settings import Settings
from activitylog.storage import watch_rules
from activitylog.storage.stream import publish
from activitylog.use_cases.health import DEGRADED, health_report
from activitylog_ingest.service import run_ingest
from activitylog_retry.alerts import Webhook
from activitylog_retry.service import run_retry
from activitylog_retry.watcher import WatchConfig, Watcher
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import running
from support import dumps, event
from webhook_sink import WebhookSink


def watcher(pool: asyncpg.Pool, url: str, now: datetime | None = None) -> Watcher:
    return Watcher(
        pool,
        Webhook(url, 2.0),
        WatchConfig(0.1, 0, 0.25, 20),
        backoff=Backoff(0.05, 0.5),
        stop=asyncio.Event(),
        **({"clock": lambda: now} if now else {}),
    )


def texts(sink: WebhookSink, marker: str) -> list[str]:
    return [t for t in sink.texts if marker in t]


async def test_a_silent_source_is_announced_once_by_two_replicas_then_its_recovery_once(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    watch_settings: Settings,
    sink: WebhookSink,
    seed_arrivals: SeedArrivals,
) -> None:
    settings = watch_settings.model_copy(update={"alert_webhook_url": sink.url})
    now = datetime.now(UTC)
    await seed_arrivals("n8n:wf-sms", now - timedelta(minutes=10), 5)
    await seed_arrivals("n8n:wf-email", now - timedelta(minutes=1), 5)
    async with pool.acquire() as conn:
        await watch_rules.add(conn, WatchRule("n8n:*", timedelta(minutes=5)))
    replicas = [
        settings.model_copy(update={"ingest_consumer": f"{settings.ingest_consumer}-{n}"})
        for n in range(2)
    ]
    async with (
        running(functools.partial(run_ingest, settings)),
        running(functools.partial(run_retry, replicas[0])),
        running(functools.partial(run_retry, replicas[1])),
    ):
        await wait_for(lambda: _async(texts(sink, "is silent")), message="the silence alert")
        report = await health_report(pool, redis, settings)
        assert report["status"] == DEGRADED
        (silent,) = report["silent_sources"]
        assert (silent["source"], silent["rule"]) == ("n8n:wf-sms", "n8n:*")
        assert 9 * 60 <= silent["silent_for_s"] <= 11 * 60
        assert any(r.startswith("source n8n:wf-sms silent for ") for r in report["reasons"])
        # More passes, by the replicas and by a third watcher, announce nothing new.
        for _ in range(3):
            assert (await watcher(pool, sink.url).check()).announced == []
        assert REGISTRY.get_sample_value("activitylog_watch_silent_sources", {"rule": "n8n:*"}) == 1

        # Events flow again, through the stream and the ingest worker.
        await publish(redis, settings.activity_stream, [dumps(event(1, source="n8n:wf-sms"))])
        await wait_for(lambda: _async(texts(sink, "recovered")), message="the recovery")
        report = await health_report(pool, redis, settings)
        assert report["silent_sources"] == []
    (alert,) = texts(sink, "is silent")
    assert alert.startswith("activitylog: source `n8n:wf-sms` is silent: no event stored for ")
    assert "Rule: `n8n:*` at least every 5m." in alert
    (recovered,) = texts(sink, "recovered")
    assert "source `n8n:wf-sms` recovered: events are stored again after" in recovered
    assert len(sink.texts) == 2


async def test_many_watchers_at_once_announce_a_silence_exactly_once(
    pool: asyncpg.Pool, sink: WebhookSink, seed_arrivals: SeedArrivals
) -> None:
    await seed_arrivals("n8n:wf-race", datetime.now(UTC) - timedelta(hours=3), 1)
    async with pool.acquire() as conn:
        await watch_rules.add(conn, WatchRule("n8n:wf-race", timedelta(hours=1)))
    passes = await asyncio.gather(*(watcher(pool, sink.url).check() for _ in range(6)))
    assert sum(len(p.announced) for p in passes) == 1
    assert len(sink.texts) == 1


async def test_an_undelivered_alert_is_announced_on_a_later_pass(
    pool: asyncpg.Pool, seed_arrivals: SeedArrivals
) -> None:
    await seed_arrivals("n8n:wf-x", datetime.now(UTC) - timedelta(hours=3), 1)
    async with pool.acquire() as conn:
        await watch_rules.add(conn, WatchRule("n8n:wf-x", timedelta(hours=1)))
    async with WebhookSink(status=500) as failing:
        assert (await watcher(pool, failing.url).check()).announced == []
    async with WebhookSink(port=failing.port) as up:
        assert len((await watcher(pool, up.url).check()).announced) == 1
        assert len(up.texts) == 1


async def test_a_rate_drop_against_the_four_week_median_is_flagged(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    watch_settings: Settings,
    sink: WebhookSink,
    seed_arrivals: SeedArrivals,
) -> None:
    now = datetime.now(UTC)
    hour = truncate(now, Grain.HOUR) - timedelta(hours=1)
    # "Sending 852, logging 12": the same hour in the last four weeks held hundreds.
    await seed_arrivals("n8n:wf-sms", hour + timedelta(minutes=10), 12)
    await seed_arrivals("n8n:wf-email", hour + timedelta(minutes=10), 95)
    for week, usual in enumerate((852, 840, 0, 900), 1):
        past = hour - timedelta(weeks=week) + timedelta(minutes=10)
        await seed_arrivals("n8n:wf-sms", past, usual)
        await seed_arrivals("n8n:wf-email", past, 100)
    async with pool.acquire() as conn:
        await watch_rules.add(conn, WatchRule("n8n:*", timedelta(days=1)))
    w = watcher(pool, sink.url, now)
    first = await w.check()
    assert [(a.source, a.kind) for a in first.announced] == [("n8n:wf-sms", "rate")]
    assert (await w.check()).announced == []
    (text,) = sink.texts
    assert text.startswith("activitylog: source `n8n:wf-sms` stored 12 events in the hour from ")
    assert "below 25% of its usual 846" in text
    assert REGISTRY.get_sample_value("activitylog_watch_rate_drops", {"rule": "n8n:*"}) == 1
    report = await health_report(pool, redis, watch_settings)
    assert report["status"] == DEGRADED
    assert [d["source"] for d in report["rate_drops"]] == ["n8n:wf-sms"]


async def _async(value: object) -> object:
    return value


async def test_the_catch_all_from_the_environment_covers_sources_no_rule_names(
    pool: asyncpg.Pool, sink: WebhookSink, seed_arrivals: SeedArrivals
) -> None:
    now = datetime.now(UTC)
    await seed_arrivals("system:import", now - timedelta(hours=3), 1)
    await seed_arrivals("n8n:wf-sms", now - timedelta(hours=3), 1)
    async with pool.acquire() as conn:
        await watch_rules.add(conn, WatchRule("n8n:wf-sms", timedelta(hours=4)))
    w = Watcher(
        pool,
        Webhook(sink.url, 2.0),
        WatchConfig(0.1, 7_200, 0, 20),
        backoff=Backoff(0.05, 0.5),
        stop=asyncio.Event(),
    )
    done = await w.check()
    assert [(a.rule, a.source) for a in done.announced] == [("*", "system:import")]
    assert "Rule: `*` at least every 2h." in sink.texts[0]
    assert REGISTRY.get_sample_value("activitylog_watch_silent_sources", {"rule": "*"}) == 1
    assert (
        REGISTRY.get_sample_value("activitylog_watch_silent_sources", {"rule": "n8n:wf-sms"}) == 0
    )
