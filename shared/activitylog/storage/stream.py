"""The Redis stream's calls: the client, the group, publishing, figures, trimming.

redis-py is used directly: the ingest's guarantees (README, "How ingest keeps its
promise") need delivery counts (XPENDING), batched claims (XAUTOCLAIM JUSTID + XCLAIM)
and re-reads of pending entries, which FastStream's stream subscriber does not offer (a
group it creates with the default last_id starts at `$`, its nack sends nothing to Redis,
and it claims stale entries one at a time). Its publisher writes `__data__`, not `payload`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import (
    AskError,
    ClusterError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from activitylog.contract.stream_format import PAYLOAD_FIELD, entry_id_text

CLUSTER_SCHEME = "redis+cluster"

# A plain client or a cluster client: both take the one-key stream calls below.
StreamClient = aioredis.Redis | RedisCluster

# What a lost or moving Redis raises: the caller backs off and tries again. On a cluster a
# failover shows as refused connections, CLUSTERDOWN, MOVED/ASK, TRYAGAIN or READONLY (a
# demoted master) while the client refreshes its slot map; the client raises
# RedisClusterException (not a RedisError) when no node answers at all.
REDIS_OUTAGES: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    OSError,
    ClusterError,
    AskError,
    TryAgainError,
    ReadOnlyError,
    RedisClusterException,
)


class NotReplicated(RedisConnectionError):
    """WAIT saw fewer replicas than REDIS_WAIT_REPLICAS take the entries in time."""


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """The (host, port) pairs of a `redis+cluster://host:port[,host:port…]` URL."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    nodes = []
    for item in netloc.split(","):
        host, colon, port = item.strip().rpartition(":")
        if not colon:
            host, port = port, ""
        nodes.append((host or "127.0.0.1", int(port or 6379)))
    return nodes


def redis_client(url: str, **kwargs: Any) -> aioredis.Redis:
    """A client returning bytes (payloads may not be valid UTF-8) with sane timeouts; a
    cluster client for a `redis+cluster://` URL (it follows failovers by itself)."""
    kwargs.setdefault("socket_connect_timeout", 5)
    # Above any blocking read (INGEST_BLOCK_MS): a reply that never comes becomes an error
    # the caller backs off from, instead of a wait no stop signal can end.
    kwargs.setdefault("socket_timeout", 30)
    kwargs.setdefault("health_check_interval", 15)
    if url.startswith(CLUSTER_SCHEME + "://"):
        parts = urlsplit(url)
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in cluster_nodes(url)],
            decode_responses=False,
            username=parts.username,
            password=parts.password,
            # During a failover a slot has no master for a few seconds: our loops back off
            # and retry, so a request is not held by the client's own long retries.
            require_full_coverage=False,
            **kwargs,
        )
        return cluster  # type: ignore[return-value]  # the same one-key commands
    return aioredis.Redis.from_url(url, decode_responses=False, **kwargs)


def is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster)


async def ensure_group(client: aioredis.Redis, stream: str, group: str) -> bool:
    """Create the consumer group at id 0 (so earlier entries are read); False if it existed."""
    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" in str(exc):
            return False
        raise
    return True


def queue_wait(client: aioredis.Redis, pipe: Any, key: str, replicas: int, timeout_ms: int) -> None:
    """Add WAIT to a pipeline that wrote `key`, on the same connection (WAIT counts that
    connection's writes): on a cluster, sent to the node that holds the key."""
    if is_cluster(client):
        node = client.get_node_from_key(key)  # type: ignore[attr-defined]
        pipe.execute_command("WAIT", replicas, timeout_ms, target_nodes=node)
    else:
        pipe.execute_command("WAIT", replicas, timeout_ms)


def check_replicated(acknowledged: Any, replicas: int) -> None:
    if int(acknowledged) < replicas:
        raise NotReplicated(f"WAIT: {acknowledged} of {replicas} replicas took the entries")


async def publish(
    client: aioredis.Redis,
    stream: str,
    payloads: Sequence[bytes | str],
    *,
    wait_replicas: int = 0,
    wait_timeout_ms: int = 500,
) -> list[str]:
    """XADD each payload as a raw `payload` field (pipelined); return the entry ids.

    With `wait_replicas`, WAIT follows in the same pipeline; NotReplicated if fewer replicas
    than that took the entries within `wait_timeout_ms`.
    """
    async with client.pipeline(transaction=False) as pipe:
        for payload in payloads:
            pipe.xadd(stream, {PAYLOAD_FIELD: payload})
        if wait_replicas:
            queue_wait(client, pipe, stream, wait_replicas, wait_timeout_ms)
        replies = await pipe.execute()
    if wait_replicas:
        check_replicated(replies.pop(), wait_replicas)
    return [entry_id_text(i) for i in replies]


async def publish_sharded(
    client: aioredis.Redis,
    keys: Sequence[str],
    shard_payloads: Sequence[tuple[int, bytes | str]],
    *,
    wait_replicas: int = 0,
    wait_timeout_ms: int = 500,
) -> None:
    """XADD each (shard, payload) to its shard's key, in order within a shard: on a cluster
    one pipeline a shard (one key, one slot), the shards at once; else one pipeline."""
    if not is_cluster(client):
        async with client.pipeline(transaction=False) as pipe:
            for shard, payload in shard_payloads:
                pipe.xadd(keys[shard], {PAYLOAD_FIELD: payload})
            if wait_replicas:
                queue_wait(client, pipe, keys[0], wait_replicas, wait_timeout_ms)
            replies = await pipe.execute()
        if wait_replicas:
            check_replicated(replies[-1], wait_replicas)
        return
    by_shard: dict[int, list[bytes | str]] = {}
    for shard, payload in shard_payloads:
        by_shard.setdefault(shard, []).append(payload)
    await asyncio.gather(
        *(
            publish(
                client,
                keys[shard],
                payloads,
                wait_replicas=wait_replicas,
                wait_timeout_ms=wait_timeout_ms,
            )
            for shard, payloads in by_shard.items()
        )
    )


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Figures for health: length, pending in the group, lag, oldest pending age."""

    length: int
    pending: int
    lag: int
    oldest_pending_age_s: float


async def sharded_stats(client: aioredis.Redis, keys: Sequence[str], group: str) -> StreamStats:
    """The figures of every shard together: summed, the oldest pending age the largest."""
    each = await asyncio.gather(*(stream_stats(client, key, group) for key in keys))
    return StreamStats(
        sum(s.length for s in each),
        sum(s.pending for s in each),
        sum(s.lag for s in each),
        max(s.oldest_pending_age_s for s in each),
    )


async def stream_stats(client: aioredis.Redis, stream: str, group: str) -> StreamStats:
    """Read the stream's figures for `group`; a missing stream or group counts as empty."""
    length = int(await client.xlen(stream))
    try:
        groups = await client.xinfo_groups(stream)
    except ResponseError:
        return StreamStats(length, 0, length, 0.0)
    info = next((g for g in groups if _text(g.get("name")) == group), None)
    if info is None:
        return StreamStats(length, 0, length, 0.0)
    pending = int(info.get("pending") or 0)
    lag_value = info.get("lag")
    lag = int(lag_value) if lag_value is not None else await _lag_fallback(client, stream, info)
    oldest_age = 0.0
    if pending:
        summary = await client.xpending(stream, group)
        oldest = summary.get("min")
        if oldest:
            age_ms = time.time() * 1000 - int(entry_id_text(oldest).split("-", 1)[0])
            oldest_age = max(age_ms / 1000, 0.0)
    return StreamStats(length, pending, lag, round(oldest_age, 3))


async def _lag_fallback(client: aioredis.Redis, stream: str, info: dict[Any, Any]) -> int:
    # Redis < 7 has no `lag`: count the entries after the group's last delivered id.
    last = _text(info.get("last-delivered-id")) or "0-0"
    entries = await client.xrange(stream, min=f"({last}", max="+", count=100_000)
    return len(entries)


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode()
    return value


async def safe_trim_point(client: aioredis.Redis, stream: str) -> str | None:
    """The lowest id some group still needs (oldest pending or next undelivered), or None.

    Entries below it are acknowledged by every group, so XTRIM MINID may drop them.
    """
    try:
        groups = await client.xinfo_groups(stream)
    except ResponseError:
        return None
    if not groups:
        return None
    needed: list[tuple[int, int]] = []
    for g in groups:
        name = _text(g.get("name"))
        last = _text(g.get("last-delivered-id")) or "0-0"
        candidate = _next_id(last)
        if int(g.get("pending") or 0) > 0:
            summary = await client.xpending(stream, name)
            if summary.get("min"):
                candidate = min(candidate, _split(entry_id_text(summary["min"])))
        needed.append(candidate)
    ms, seq = min(needed)
    return f"{ms}-{seq}"


async def trim_acknowledged(client: aioredis.Redis, stream: str) -> int:
    """Drop entries every group has acknowledged; never an unprocessed one."""
    point = await safe_trim_point(client, stream)
    if point is None or point == "0-0":
        return 0
    return int(await client.xtrim(stream, minid=point, approximate=True))


def _split(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _next_id(entry_id: str) -> tuple[int, int]:
    ms, seq = _split(entry_id)
    return ms, seq + 1
