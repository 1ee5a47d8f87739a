"""Ingest worker processes under faults: two processes share a stream, a SIGKILL with a batch
in hand, a poison entry that crashes the worker every time it is read."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from activitylog.runtime.settings import Settings
from activitylog_testing.polling import wait_for
from support import (
    count_rows,
    dumps,
    event,
    pending_at_least,
    pending_count,
    publish_raw,
    spawn,
    stop_process,
)


async def test_two_worker_processes_store_each_event_once(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, artifacts: Path
) -> None:
    names = [f"{settings.ingest_consumer}-{i}" for i in range(2)]
    workers = [
        spawn(
            ["ingest"],
            settings,
            log_path=artifacts / f"{name}.log",
            INGEST_CONSUMER=name,
            INGEST_BATCH_SIZE="200",
        )
        for name in names
    ]
    try:
        # Both must be reading before anything is published, or one may take it all.
        await wait_for(lambda: _started(artifacts, names), timeout=60, message="2 readers")
        publish_raw(settings, [dumps(event(n)) for n in range(10_000)])
        await wait_for(lambda: _at_least(pool, 10_000), timeout=120, message="10,000 rows")
    finally:
        codes = [stop_process(w) for w in workers]
    assert codes == [0, 0]
    assert await count_rows(pool) == 10_000
    assert await pool.fetchval("SELECT count(DISTINCT id) FROM lead_activity_log") == 10_000
    logs = [(artifacts / f"{name}.log").read_text() for name in names]
    assert all("batch stored" in log for log in logs), "both workers should have stored batches"


async def _started(artifacts: Path, names: list[str]) -> bool:
    # Redis 7.0 lists a consumer only once it got an entry, so ask the workers themselves.
    return all("ingest worker started" in (artifacts / f"{name}.log").read_text() for name in names)


async def test_worker_killed_mid_batch_and_restarted_stores_each_event_once(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, artifacts: Path
) -> None:
    publish_raw(settings, [dumps(event(n)) for n in range(2000)])
    log = artifacts / "worker.log"
    async with pool.acquire() as blocker, blocker.transaction():
        # Holding this lock stalls the worker's first commit: it has a batch in hand.
        await blocker.execute("LOCK TABLE leads IN SHARE ROW EXCLUSIVE MODE")
        worker = spawn(["ingest"], settings, log_path=log)
        await wait_for(lambda: pending_at_least(redis, settings, 1), message="batch in hand")
        worker.kill()
        worker.wait()
    assert await count_rows(pool) == 0
    assert await pending_count(redis, settings) > 0
    restarted = spawn(["ingest"], settings, log_path=log)
    try:
        await wait_for(lambda: _at_least(pool, 2000), timeout=90, message="2,000 rows")
        await wait_for(lambda: _no_pending(redis, settings), timeout=30, message="acked")
    finally:
        assert stop_process(restarted) == 0
    assert await count_rows(pool) == 2000
    assert await pool.fetchval("SELECT count(*) FROM retry_queue") == 0


async def test_crashing_entry_goes_to_retry_queue_after_max_deliveries(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, artifacts: Path
) -> None:
    marker = "__crash_the_worker__"
    good = [dumps(event(n)) for n in range(60)]
    poison = dumps(event(999, description=f"poison {marker}"))
    publish_raw(settings, [*good[:30], poison, *good[30:]])
    crashes = 0
    while True:
        worker = spawn(
            ["ingest"],
            settings,
            log_path=artifacts / "worker.log",
            # The test-only hook that makes a worker crash on the marker.
            FAULT_CRASH_MARKER=marker,
            PYTHONPATH=str(Path(__file__).parents[2] / "system" / "crash_hook"),
        )
        exited = await wait_for(
            lambda w=worker: _exited_or_done(w, pool), timeout=60, message="crash or done"
        )
        if exited == "crashed":
            assert worker.returncode == 70
            crashes += 1
            assert crashes <= settings.ingest_max_deliveries, "poison was never set aside"
            continue
        await wait_for(lambda: _no_pending(redis, settings), message="acked")
        assert stop_process(worker) == 0
        break
    assert crashes == settings.ingest_max_deliveries
    assert await count_rows(pool) == 60
    row = await pool.fetchrow("SELECT * FROM retry_queue")
    assert row["status"] == "pending"
    assert f"delivered {settings.ingest_max_deliveries} times" in row["last_error"]
    assert marker in row["payload"]


async def _exited_or_done(worker, pool: asyncpg.Pool) -> str | None:
    if worker.poll() is not None:
        return "crashed"
    if await count_rows(pool) == 60 and await pool.fetchval("SELECT count(*) FROM retry_queue"):
        return "done"
    return None


async def _at_least(pool: asyncpg.Pool, n: int) -> bool:
    return await count_rows(pool) >= n


async def _no_pending(redis: aioredis.Redis, settings: Settings) -> bool:
    return await pending_count(redis, settings) == 0
