"""The retry service over ACTIVITY_STREAM_SHARDS=4 with no ingest running: it claims and stores
a vanished worker's entries on every shard, trims what every shard's group acknowledged, and
the health figures add up every shard."""

from __future__ import annotations

import functools

from activitylog.contract.shards import shard_of_payload
from activitylog.runtime.settings import Settings
from activitylog.storage.stream import ensure_group, sharded_stats
from activitylog.use_cases.health import health_report
from activitylog_retry.service import run_retry
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import running
from support import dumps, event

SHARDS = 4
# Above one stream node (stream-node-max-entries, 100): an approximate XTRIM drops whole nodes.
DONE_PER_SHARD = 250


async def test_the_retry_service_sweeps_trims_and_counts_every_shard(
    pool, redis, retry_settings: Settings
) -> None:
    settings = retry_settings.model_copy(update={"activity_stream_shards": SHARDS})
    keys, group = settings.stream_keys(), settings.ingest_group
    for key in keys:
        await ensure_group(redis, key, group)
        # Stored and acknowledged earlier: only a trim removes them.
        for n in range(DONE_PER_SHARD):
            await redis.xadd(key, {"payload": dumps(event(10_000 + n))})
        await redis.xreadgroup(group, "earlier-worker", {key: ">"}, count=DONE_PER_SHARD)
        done = await redis.xrange(key)
        await redis.xack(key, group, *[entry_id for entry_id, _ in done])
    stale = [event(n) for n in range(80)]
    for body in stale:
        await redis.xadd(keys[shard_of_payload(body, SHARDS)], {"payload": dumps(body)})
    for key in keys:  # a worker read its shard's new entries and died
        await redis.xreadgroup(group, "vanished-worker", {key: ">"}, count=1000)
    before = await sharded_stats(redis, keys, group)
    assert before.pending == len(stale)
    assert before.length == SHARDS * DONE_PER_SHARD + len(stale)
    pending_shards = [(await redis.xpending(key, group))["pending"] for key in keys]
    assert sum(1 for n in pending_shards if n) > 1
    report = await health_report(pool, redis, settings)
    assert report["stream"]["pending"] == len(stale)
    assert report["stream"]["length"] == before.length

    async with running(functools.partial(run_retry, settings)):
        await wait_for(
            lambda: pool.fetchval("SELECT count(*) = $1 FROM lead_activity_log", len(stale)),
            timeout=30,
            message="every shard's stale entries stored",
        )

        async def swept_and_trimmed() -> bool:
            stats = await sharded_stats(redis, keys, group)
            return stats.pending == 0 and stats.length < len(stale) + SHARDS * DONE_PER_SHARD // 2

        await wait_for(swept_and_trimmed, timeout=30, message="acknowledged and trimmed")
    stored = await pool.fetch("SELECT execution_id FROM lead_activity_log")
    assert sorted(r["execution_id"] for r in stored) == sorted(b["executionId"] for b in stale)
    after = await health_report(pool, redis, settings)
    assert after["stream"]["pending"] == 0
    assert after["stream"]["length"] == (await sharded_stats(redis, keys, group)).length
