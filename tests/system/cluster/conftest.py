"""A real local Redis Cluster (3 masters, 3 replicas) for each test, on free ports, removed
after; settings that point the services at it with four shards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from activitylog.runtime.settings import Settings
from activitylog.storage.stream import redis_client
from activitylog_testing.ports import free_port
from activitylog_testing.redis_cluster import LocalRedisCluster, local_redis_cluster
from api_fixtures import *  # noqa: F403

SHARDS = 4


@pytest.fixture
def cluster() -> Iterator[LocalRedisCluster]:
    with local_redis_cluster(masters=3, replicas=1, node_timeout_ms=1500) as started:
        yield started


@pytest.fixture
def cluster_settings(settings: Settings, cluster: LocalRedisCluster) -> Settings:
    return settings.model_copy(
        update={
            "redis_url": cluster.url,
            "activity_stream_shards": SHARDS,
            "api_port": free_port(),
            "api_backend_timeout_s": 2.0,
            "claim_idle_ms": 2_000,
            "consumer_lease_ttl_s": 3,
        }
    )


@pytest_asyncio.fixture
async def cluster_redis(cluster_settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = redis_client(cluster_settings.servers()[1])
    try:
        yield client
    finally:
        await client.aclose()
