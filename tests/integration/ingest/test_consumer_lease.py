"""Consumer-name leases: a restarted replica takes its own name back at once (README)."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
import orjson
import redis.asyncio as aioredis

from activitylog.ingest.lease import ConsumerLease, holder_value
from activitylog.runtime.settings import Settings
from activitylog_testing.polling import wait_for
from support import count_rows, dumps, event, publish_raw, spawn, stop_process

# Far longer than any test waits: only a takeover, never an expiry, frees these leases.
LONG_MS = 600_000


@contextmanager
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process of this host that the test can kill."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def key(settings: Settings, name: str) -> str:
    return f"{settings.activity_stream}:consumer-lease:{name}"


@asynccontextmanager
async def leased(redis: aioredis.Redis, settings: Settings) -> AsyncIterator[ConsumerLease]:
    lease = ConsumerLease(
        redis, settings.activity_stream, settings.ingest_consumer, settings.consumer_lease_ttl_s
    )
    try:
        yield lease
    finally:
        await lease.release()


async def test_a_lease_held_by_a_dead_process_of_this_host_is_taken_over_at_once(
    redis: aioredis.Redis, settings: Settings
) -> None:
    with sleeper() as proc:
        dead = holder_value(proc.pid)
    await redis.set(key(settings, settings.ingest_consumer), dead, px=LONG_MS)
    async with leased(redis, settings) as lease:
        started = time.monotonic()
        assert await lease.acquire() == settings.ingest_consumer
        assert time.monotonic() - started < 1
        now = orjson.loads(await redis.get(key(settings, settings.ingest_consumer)))
        assert now["pid"] != proc.pid
    assert await redis.exists(key(settings, settings.ingest_consumer)) == 0


async def test_a_lease_held_by_a_live_process_gives_the_next_name(
    redis: aioredis.Redis, settings: Settings
) -> None:
    base = settings.ingest_consumer
    with sleeper() as proc:
        live = holder_value(proc.pid)
        await redis.set(key(settings, base), live, px=LONG_MS)
        async with leased(redis, settings) as lease:
            started = time.monotonic()
            assert await lease.acquire() == f"{base}-2"
            # A holder that can be checked is not waited for.
            assert time.monotonic() - started < 1
        assert await redis.get(key(settings, base)) == live


async def test_a_reused_pid_does_not_keep_a_dead_holder_s_name(
    redis: aioredis.Redis, settings: Settings
) -> None:
    base = settings.ingest_consumer
    with sleeper() as proc:
        # The lease's pid runs again, but as another process (another start time).
        reused = orjson.loads(holder_value(proc.pid)) | {"start": "1"}
        await redis.set(key(settings, base), orjson.dumps(reused), px=LONG_MS)
        async with leased(redis, settings) as lease:
            assert await lease.acquire() == base


async def test_two_starters_racing_for_a_dead_holder_s_name_get_different_names(
    redis: aioredis.Redis, settings: Settings
) -> None:
    base = settings.ingest_consumer
    with sleeper() as proc:
        dead = holder_value(proc.pid)
    await redis.set(key(settings, base), dead, px=LONG_MS)
    async with leased(redis, settings) as first, leased(redis, settings) as second:
        names = await asyncio.gather(first.acquire(), second.acquire())
    assert sorted(names) == [base, f"{base}-2"]


async def test_a_lease_that_cannot_be_checked_is_waited_out_not_taken(
    redis: aioredis.Redis, settings: Settings
) -> None:
    base = settings.ingest_consumer
    elsewhere = orjson.dumps({"host": "another-host", "boot": "b", "pidns": "p", "pid": 7})
    # Not renewed: its holder is gone, so once it lapses the name is free again.
    await redis.set(key(settings, base), elsewhere, px=700)
    async with leased(redis, settings) as lease:
        assert await lease.acquire() == base
    # Renewed by its holder: the name is someone else's; the next one is taken.
    await redis.set(key(settings, base), elsewhere, px=700)

    async def renew() -> None:
        while True:
            await redis.pexpire(key(settings, base), 700)
            await asyncio.sleep(0.1)

    renewing = asyncio.create_task(renew())
    try:
        async with leased(redis, settings) as lease:
            started = time.monotonic()
            assert await lease.acquire() == f"{base}-2"
            assert 0.5 < time.monotonic() - started < 3
    finally:
        renewing.cancel()


async def test_a_held_lease_is_renewed_and_released(
    redis: aioredis.Redis, settings: Settings
) -> None:
    fast = settings.model_copy(update={"consumer_lease_ttl_s": 0.6})
    async with leased(redis, fast) as lease:
        await lease.acquire()
        mine = await redis.get(key(fast, lease.name))
        seen = {"last": fast.consumer_lease_ttl_s * 1000, "renewals": 0}

        async def renewed_for_longer_than_its_ttl() -> bool:
            assert await redis.get(key(fast, lease.name)) == mine
            left = await redis.pttl(key(fast, lease.name))
            if left > seen["last"]:
                seen["renewals"] += 1
            seen["last"] = left
            return seen["renewals"] >= 5

        await wait_for(renewed_for_longer_than_its_ttl, timeout=5, interval=0.02)
    assert await redis.exists(key(fast, fast.ingest_consumer)) == 0


async def test_a_worker_restarted_after_sigkill_keeps_its_name_and_stores_its_pending_entries(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, artifacts: Path
) -> None:
    # Neither a claim nor the lease's expiry can explain a quick recovery: only the takeover.
    settings = settings.model_copy(update={"claim_idle_ms": 600_000, "consumer_lease_ttl_s": 60})
    base = settings.ingest_consumer
    publish_raw(settings, [dumps(event(n)) for n in range(300)])
    log = artifacts / "worker.log"
    log.unlink(missing_ok=True)
    async with pool.acquire() as blocker, blocker.transaction():
        # Holding this lock stalls the worker's first commit: it has a batch in hand.
        await blocker.execute("LOCK TABLE leads IN SHARE ROW EXCLUSIVE MODE")
        worker = spawn(["ingest"], settings, log_path=log)
        try:
            await wait_for(lambda: _pending_of(redis, settings, base), message="batch in hand")
        finally:
            worker.kill()
            worker.wait()
    assert await count_rows(pool) == 0
    assert await redis.exists(key(settings, base)) == 1, "SIGKILL leaves the lease behind"

    restarted = spawn(["ingest"], settings, log_path=log)
    try:
        started = time.monotonic()
        await wait_for(lambda: _rows(pool, 300), timeout=30, message="the pending batch stored")
        assert time.monotonic() - started < 30
        await wait_for(lambda: _none_pending(redis, settings), message="acknowledged")
        holder = orjson.loads(await redis.get(key(settings, base)))
        assert holder["pid"] == restarted.pid
        assert await redis.exists(key(settings, f"{base}-2")) == 0
    finally:
        assert stop_process(restarted) == 0
    consumers = await redis.xinfo_consumers(settings.activity_stream, settings.ingest_group)
    assert {c["name"].decode() for c in consumers} == {base}
    assert await count_rows(pool) == 300


async def _pending_of(redis: aioredis.Redis, settings: Settings, consumer: str) -> bool:
    try:
        summary = await redis.xpending(settings.activity_stream, settings.ingest_group)
    except aioredis.ResponseError:
        return False  # the group does not exist yet
    return any(c["name"].decode() == consumer for c in summary["consumers"])


async def _rows(pool: asyncpg.Pool, n: int) -> bool:
    return await count_rows(pool) == n


async def _none_pending(redis: aioredis.Redis, settings: Settings) -> bool:
    summary = await redis.xpending(settings.activity_stream, settings.ingest_group)
    return int(summary["pending"]) == 0


async def test_releasing_ends_the_renewal_even_when_the_cancel_lands_inside_a_command(
    redis: aioredis.Redis, settings: Settings
) -> None:
    # redis-py reports a cancel that lands during a read as a ConnectionError; a renewal
    # loop that retried on it used to survive release and hold up the process's exit.
    rng = random.Random(7)
    for n in range(60):
        # A TTL of 3 ms renews every millisecond, so releases land inside a command often.
        lease = ConsumerLease(redis, settings.activity_stream, f"cancel-{n}", ttl_s=0.003)
        await lease.acquire()
        await asyncio.sleep(rng.random() * 0.004)  # a random moment in the renewal cycle
        started = time.monotonic()
        await lease.release()
        assert lease._task is not None
        assert lease._task.done(), f"renewal {n} still running after release"
        assert time.monotonic() - started < 1.0
