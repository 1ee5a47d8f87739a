"""ACTIVITY_STREAM_SHARDS=4 on one Redis: the API and raw XADD producers spread events over
four hash-tagged keys by the lead rule, two in-process workers share the shards fairly,
and every event reaches PostgreSQL exactly once."""

from __future__ import annotations

import asyncio
import functools

import orjson

from activitylog.contract.shards import shard_of_payload
from activitylog.domain.shard_plan import moves, plan_shards
from activitylog.ingest.lease import ShardLeases
from activitylog.runtime.settings import Settings
from activitylog.storage.stream import sharded_stats
from activitylog_ingest.service import run_ingest
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import running, serving_api
from activitylog_testing.streams import drain, stream_drained
from api_fixtures import *  # noqa: F403
from support import dumps, event

PATH = "/api/internal/log-activity"
SHARDS = 4


def _sharded(settings: Settings, consumer: str | None = None) -> Settings:
    update: dict[str, object] = {"activity_stream_shards": SHARDS}
    if consumer:
        update["ingest_consumer"] = consumer
    return settings.model_copy(update=update)


async def _stored(pool) -> dict[str, int]:
    rows = await pool.fetch("SELECT execution_id, count(*) AS n FROM lead_activity_log GROUP BY 1")
    return {r["execution_id"]: r["n"] for r in rows}


async def test_events_land_on_their_leads_shard_and_a_burst_drains_them_all(
    settings: Settings, pool, redis
) -> None:
    sharded = _sharded(settings)
    keys = sharded.stream_keys()
    assert len(keys) == SHARDS
    assert all(k.startswith(settings.activity_stream.rpartition(":")[0]) for k in keys)
    bodies = [event(n) for n in range(200)]
    for body in bodies:
        await redis.xadd(keys[shard_of_payload(body, SHARDS)], {"payload": dumps(body)})
    lengths = [await redis.xlen(k) for k in keys]
    assert sum(lengths) == 200
    assert sum(1 for n in lengths if n) > 1  # fifty leads spread over the shards
    await drain(sharded)
    assert await _stored(pool) == {f"exec-{n}": 1 for n in range(200)}
    assert await stream_drained(redis, sharded)


async def test_two_workers_share_four_shards_and_store_api_and_raw_events_once(
    settings: Settings, api_settings: Settings, pool, redis, ingest_key: str
) -> None:
    sharded = _sharded(api_settings)
    keys = sharded.stream_keys()
    worker_a = functools.partial(run_ingest, _sharded(settings, "shard-a"))
    worker_b = functools.partial(run_ingest, _sharded(settings, "shard-b"))
    async with (
        serving_api(sharded) as api,
        api.client(ingest_key) as http,
        running(worker_a),
        running(worker_b),
    ):
        leases = ShardLeases(redis, settings.activity_stream, "observer", SHARDS, 3)

        async def fair() -> bool:
            owners = sorted((await leases.view()).holders.values())
            return owners == ["shard-a"] * 2 + ["shard-b"] * 2

        await wait_for(fair, timeout=30, message="two shards leased by each worker")

        async def post(first: int) -> None:
            for n in range(first, 300, 20):
                response = await http.post(PATH, json=[event(n), event(n + 1)])
                assert response.status_code == 202, response.text

        await asyncio.gather(*(post(n) for n in range(0, 20, 2)))
        added = [(await redis.xinfo_stream(k))["entries-added"] for k in keys]
        assert sum(added) == 300
        assert all(added)  # the API placed events on every shard
        for n in range(300, 600):
            body = event(n)
            await redis.xadd(keys[shard_of_payload(body, SHARDS)], {"payload": orjson.dumps(body)})
        expected = {f"exec-{n}": 1 for n in range(600)}

        async def all_stored() -> bool:
            return await _stored(pool) == expected

        await wait_for(all_stored, timeout=60, message="600 events stored once")
        await wait_for(lambda: stream_drained(redis, sharded), message="every shard drained")
        stats = await sharded_stats(redis, keys, sharded.ingest_group)
        assert stats.pending == 0
    assert await _stored(pool) == expected


def test_the_plan_the_workers_follow_gives_each_two() -> None:
    plan = plan_shards(SHARDS, {"shard-a", "shard-b"}, {})
    assert sorted(len(v) for v in plan.values()) == [2, 2]


async def test_a_lapsed_workers_shards_go_to_the_living_and_a_newcomer_gets_its_share(
    settings: Settings, redis
) -> None:
    def worker(name: str) -> ShardLeases:
        return ShardLeases(redis, settings.activity_stream, name, SHARDS, 0.5)

    async def follow_plan(leases: ShardLeases) -> frozenset[int]:
        """One step of what ShardedIngest does: renew, then take and give up as planned."""
        state = await leases.step()
        take, drop = moves(
            leases.name, plan_shards(SHARDS, state.members, state.holders), state.holders
        )
        return leases.held(await leases.step(take=take, drop=drop))

    a, b = worker("a"), worker("b")
    assert await follow_plan(a) == frozenset(range(SHARDS))  # alone: every shard
    await follow_plan(b)  # b joins: a must give up two before b can take them
    assert len(await follow_plan(a)) == 2
    assert await follow_plan(b) == frozenset(range(SHARDS)) - await follow_plan(a)

    async def b_holds_all() -> bool:  # a stops renewing, as a killed worker does
        return await follow_plan(b) == frozenset(range(SHARDS))

    await wait_for(b_holds_all, timeout=10, interval=0.1, message="a's shards moved to b")
    assert (await b.view()).members == {"b"}
    await b.leave()
    assert (await a.view()).holders == {}
