"""Kill test: workers SIGKILLed at random moments lose nothing and store nothing twice."""

from __future__ import annotations

import asyncio
import random

import pytest
from fault_support import count_events, supervised

from activitylog.storage.stream import ensure_group, publish
from activitylog_testing.polling import wait_for
from activitylog_testing.streams import stream_drained
from support import dumps, event

pytestmark = pytest.mark.faults

EVENTS = 20_000
WORKERS = 3
KILLS = 6
CHUNK = 500


async def test_sigkilled_workers_lose_nothing(pool, redis, fault_settings, artifacts) -> None:
    # Smaller batches keep every worker busy, so a kill usually hits one mid-batch.
    settings = fault_settings.model_copy(update={"ingest_batch_size": 200})
    stream = settings.activity_stream
    await ensure_group(redis, stream, settings.ingest_group)
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    (artifacts / "seed.txt").write_text(str(seed))
    thresholds = sorted(rng.sample(range(1_000, EVENTS - 1_000), KILLS))

    async with supervised(["ingest"], settings, artifacts, count=WORKERS) as workers:

        async def publisher() -> None:
            for start in range(0, EVENTS, CHUNK):
                await publish(redis, stream, [dumps(event(n)) for n in range(start, start + CHUNK)])
                # Keep publishing alongside consumption, so kills land while entries arrive.
                await wait_for(
                    lambda: _lag_below(redis, stream, settings.ingest_group, 4 * CHUNK),
                    timeout=60,
                    interval=0.01,
                    message="the workers to keep up",
                )

        publishing = asyncio.create_task(publisher())
        killed = []
        for threshold in thresholds:
            await wait_for(
                lambda t=threshold: _stored_at_least(pool, t),
                timeout=120,
                interval=0.01,
                message=f"{threshold} rows before the next kill",
            )
            # Prefer a worker holding unacknowledged entries: that is the kill that matters.
            holding = await _holding(redis, settings, workers)
            slot = rng.choice(sorted(holding) or range(WORKERS))
            await workers.kill(slot)
            killed.append((threshold, slot, holding.get(slot, 0)))
        await publishing
        await wait_for(
            lambda: _stored_at_least(pool, EVENTS), timeout=180, message="every event stored"
        )
        await wait_for(lambda: stream_drained(redis, settings), timeout=60, message="no pending")
        assert workers.all_running()

    (artifacts / "kills.txt").write_text("\n".join(map(str, killed)))
    assert len(killed) == KILLS
    assert sum(1 for *_, held in killed if held) >= KILLS // 2, killed
    assert workers.exit_codes.count(-9) == KILLS, workers.exit_codes
    assert workers.final_codes == [0] * WORKERS
    assert await count_events(pool) == EVENTS
    assert await pool.fetchval("SELECT count(DISTINCT metadata->>'n') FROM lead_activity_log") == (
        EVENTS
    )
    assert await pool.fetchval("SELECT count(*) FROM retry_queue") == 0


async def _stored_at_least(pool, n: int) -> bool:
    return await count_events(pool) >= n


async def _lag_below(redis, stream: str, group: str, limit: int) -> bool:
    groups = await redis.xinfo_groups(stream)
    info = next(g for g in groups if g["name"] in (group, group.encode()))
    return int(info["lag"] or 0) < limit


async def _holding(redis, settings, workers) -> dict[int, int]:
    """Slot → entries its live consumer holds unacknowledged."""
    held: dict[int, int] = {}
    consumers = await redis.xinfo_consumers(settings.activity_stream, settings.ingest_group)
    for info in consumers:
        name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
        for slot in range(WORKERS):
            base = workers.consumer_base(slot)
            if (name == base or name.startswith(base + "-")) and int(info["pending"]) > 0:
                held[slot] = held.get(slot, 0) + int(info["pending"])
    return held
