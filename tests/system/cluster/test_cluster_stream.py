"""The sharded stream on a real Redis Cluster (3 masters, 3 replicas): two worker processes
share four shards; a worker's or a master's SIGKILL loses no acknowledged event and stores
none twice."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest

from activitylog.contract.shards import shard_of_payload
from activitylog.ingest.lease import ShardLeases
from activitylog.runtime.settings import Settings
from activitylog.storage.stream import sharded_stats
from activitylog_testing.polling import wait_for
from activitylog_testing.redis_cluster import LocalRedisCluster
from activitylog_testing.serving import ServedApi, serving_api
from support import dumps, event, spawn, stop_process

pytestmark = pytest.mark.faults

PATH = "/api/internal/log-activity"
SHARDS = 4


@contextmanager
def workers(
    settings: Settings, logs: Path, names: list[str], codes: dict[str, int]
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """`activitylog ingest` processes; on leaving, SIGTERM, their exit codes in `codes`."""
    procs = {
        name: spawn(["ingest"], settings, log_path=logs / f"{name}.log", INGEST_CONSUMER=name)
        for name in names
    }
    try:
        yield procs
    finally:
        codes.update({name: stop_process(proc) for name, proc in procs.items()})


async def owners(redis, settings: Settings) -> list[str]:
    state = await ShardLeases(redis, settings.activity_stream, "-", SHARDS, 1).view()
    return sorted(state.holders.get(k, "") for k in range(SHARDS))


async def stored(pool) -> Counter[str]:
    rows = await pool.fetch("SELECT execution_id, count(*) AS n FROM lead_activity_log GROUP BY 1")
    return Counter({r["execution_id"]: r["n"] for r in rows})


async def all_stored_once(pool, numbers: range) -> bool:
    return await stored(pool) == Counter({f"exec-{n}": 1 for n in numbers})


async def drained(redis, settings: Settings) -> bool:
    stats = await sharded_stats(redis, settings.stream_keys(), settings.ingest_group)
    return stats.pending == 0 and stats.lag == 0


async def raw_xadd(redis, settings: Settings, numbers: range) -> None:
    keys = settings.stream_keys()
    for n in numbers:
        body = event(n)
        await redis.xadd(keys[shard_of_payload(body, SHARDS)], {"payload": dumps(body)})


@asynccontextmanager
async def api_client(
    settings: Settings, key: str
) -> AsyncIterator[tuple[ServedApi, httpx.AsyncClient]]:
    async with serving_api(settings) as api, api.client(key) as http:
        yield api, http


async def post_until_accepted(http: httpx.AsyncClient, n: int, statuses: Counter[int]) -> int:
    """What n8n's retry does: the same body again after a 503 or a broken connection."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            response = await http.post(PATH, json=event(n))
        except httpx.TransportError:
            statuses[0] += 1
            continue
        statuses[response.status_code] += 1
        if response.status_code in (201, 202):
            return response.status_code
        assert response.status_code == 503, response.text
        await asyncio.sleep(0.1)  # Retry-After, shortened
    raise AssertionError(f"event {n} never accepted")


async def test_api_and_raw_events_reach_postgres_once_across_four_shards(
    cluster_settings: Settings, cluster_redis, pool, ingest_key: str, artifacts: Path
) -> None:
    codes: dict[str, int] = {}
    with workers(cluster_settings, artifacts, ["w-a", "w-b"], codes):
        await wait_for(
            lambda: _fair(cluster_redis, cluster_settings), timeout=60, message="two shards each"
        )
        async with api_client(cluster_settings, ingest_key) as (_, http):
            statuses: Counter[int] = Counter()
            await asyncio.gather(
                *(
                    asyncio.gather(
                        *(post_until_accepted(http, n, statuses) for n in range(s, 300, 10))
                    )
                    for s in range(10)
                )
            )
            # Queued on the stream; a request slower than API_BACKEND_TIMEOUT_S on a loaded
            # machine is stored directly instead (201), which is the promise too.
            assert statuses[202] + statuses[201] == 300
            assert statuses[202] >= 150
        await raw_xadd(cluster_redis, cluster_settings, range(300, 600))
        await wait_for(lambda: all_stored_once(pool, range(600)), timeout=90, message="600 once")
        await wait_for(lambda: drained(cluster_redis, cluster_settings), message="drained")
    assert codes == {"w-a": 0, "w-b": 0}  # SIGTERM: each drained its shards and left


async def _fair(redis, settings: Settings) -> bool:
    return await owners(redis, settings) == ["w-a", "w-a", "w-b", "w-b"]


async def test_a_sigkilled_workers_shards_move_to_the_other_and_nothing_is_lost(
    cluster_settings: Settings, cluster_redis, pool, artifacts: Path
) -> None:
    settings = cluster_settings.model_copy(update={"ingest_batch_size": 50})
    codes: dict[str, int] = {}
    with workers(settings, artifacts, ["w-a", "w-b"], codes) as procs:
        await wait_for(
            lambda: _fair(cluster_redis, settings), timeout=60, message="two shards each"
        )
        producing = asyncio.create_task(_produce_raw(cluster_redis, settings, range(3_000)))

        async def some_stored() -> bool:
            return sum((await stored(pool)).values()) >= 500

        await wait_for(some_stored, timeout=60, message="500 rows before the kill")
        procs["w-b"].kill()
        killed_at = time.monotonic()
        await producing

        async def moved() -> bool:
            return await owners(cluster_redis, settings) == ["w-a"] * SHARDS

        await wait_for(moved, timeout=60, message="w-a holding every shard")
        took_over_s = time.monotonic() - killed_at
        await wait_for(
            lambda: all_stored_once(pool, range(3_000)), timeout=120, message="3000 once"
        )
        await wait_for(lambda: drained(cluster_redis, settings), timeout=60, message="drained")
        (artifacts / "takeover.txt").write_text(f"{took_over_s:.2f}s")
        assert procs["w-a"].poll() is None
    assert codes == {"w-a": 0, "w-b": -9}


async def _produce_raw(redis, settings: Settings, numbers: range) -> None:
    for start in range(numbers.start, numbers.stop, 100):
        await raw_xadd(redis, settings, range(start, min(start + 100, numbers.stop)))
        await asyncio.sleep(0.02)  # a steady flow, so the kill lands mid-stream


async def test_a_sigkilled_master_fails_over_and_every_acknowledged_event_is_stored_once(
    cluster: LocalRedisCluster,
    cluster_settings: Settings,
    cluster_redis,
    pool,
    ingest_key: str,
    artifacts: Path,
) -> None:
    settings = cluster_settings.model_copy(
        update={"redis_wait_replicas": 1, "redis_wait_timeout_ms": 1_000, "ingest_batch_size": 50}
    )
    total = 1_200
    statuses: Counter[int] = Counter()
    answers: dict[int, int] = {}
    codes: dict[str, int] = {}
    with workers(settings, artifacts, ["w-a", "w-b"], codes):
        await wait_for(
            lambda: _fair(cluster_redis, settings), timeout=60, message="two shards each"
        )
        async with api_client(settings, ingest_key) as (_, http):

            async def producer(first: int) -> None:
                for n in range(first, total, 8):
                    answers[n] = await post_until_accepted(http, n, statuses)

            producing = asyncio.gather(*(producer(s) for s in range(8)))

            async def some_answered() -> bool:
                return len(answers) >= 300

            await wait_for(some_answered, timeout=60, message="300 answers before the kill")
            victim = cluster.master_of(settings.stream_keys()[0])
            cluster.kill(victim)
            killed_at = time.monotonic()
            await asyncio.to_thread(cluster.wait_ok)
            failover_s = time.monotonic() - killed_at
            await producing
        await wait_for(lambda: all_stored_once(pool, range(total)), timeout=120, message="once")
        await wait_for(lambda: drained(cluster_redis, settings), timeout=60, message="drained")
    (artifacts / "failover.txt").write_text(f"failover {failover_s:.2f}s; answers {dict(statuses)}")
    assert len(answers) == total
    assert set(answers.values()) <= {201, 202}
    assert statuses[202] >= 300
    assert victim not in cluster.live_ports()
    assert codes == {"w-a": 0, "w-b": 0}  # the workers rode out the failover
