"""Redis Cluster settings: REDIS_CLUSTER_NODES and a `redis+cluster://` REDIS_URL name the same
cluster; the shard keys keep a test's prefix."""

from __future__ import annotations

from activitylog.runtime.settings import Settings
from activitylog.storage.stream import cluster_nodes


def test_cluster_nodes_become_a_cluster_url() -> None:
    settings = Settings(database_url="postgresql://x", redis_cluster_nodes="a:7000,b:7001")
    assert settings.servers()[1] == "redis+cluster://a:7000,b:7001"
    assert cluster_nodes(settings.servers()[1]) == [("a", 7000), ("b", 7001)]
    assert cluster_nodes("redis+cluster://user:pw@h1:7000,h2") == [("h1", 7000), ("h2", 6379)]


def test_a_redis_url_wins_and_one_shard_keeps_the_key() -> None:
    settings = Settings(redis_url="redis://r:6379/0", redis_cluster_nodes="a:7000")
    assert settings.redis_url == "redis://r:6379/0"
    assert settings.stream_keys() == ["activity:events"]
    sharded = Settings(activity_stream="test-1:abc:events", activity_stream_shards=3)
    assert sharded.stream_keys() == [
        "test-1:abc:{0}:events",
        "test-1:abc:{1}:events",
        "test-1:abc:{2}:events",
    ]
