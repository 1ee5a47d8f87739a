"""The Redis stream's calls: the client, the group, publishing, figures, trimming.

redis-py is used directly: the ingest's guarantees (README, "How ingest keeps its
promise") need delivery counts (XPENDING), batched claims (XAUTOCLAIM JUSTID + XCLAIM)
and re-reads of pending entries, which FastStream's stream subscriber does not offer (a
group it creates with the default last_id starts at `$`, its nack sends nothing to Redis,
and it claims stale entries one at a time). Its publisher writes `__data__`, not `payload`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from activitylog.contract.stream_format import PAYLOAD_FIELD, entry_id_text


def redis_client(url: str, **kwargs: Any) -> aioredis.Redis:
    """A client returning bytes (payloads may not be valid UTF-8) with sane timeouts."""
    kwargs.setdefault("socket_connect_timeout", 5)
    # Above any blocking read (INGEST_BLOCK_MS): a reply that never comes becomes an error
    # the caller backs off from, instead of a wait no stop signal can end.
    kwargs.setdefault("socket_timeout", 30)
    kwargs.setdefault("health_check_interval", 15)
    return aioredis.Redis.from_url(url, decode_responses=False, **kwargs)


async def ensure_group(client: aioredis.Redis, stream: str, group: str) -> bool:
    """Create the consumer group at id 0 (so earlier entries are read); False if it existed."""
    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" in str(exc):
            return False
        raise
    return True


async def publish(
    client: aioredis.Redis, stream: str, payloads: Sequence[bytes | str]
) -> list[str]:
    """XADD each payload as a raw `payload` field (pipelined); return the entry ids."""
    async with client.pipeline(transaction=False) as pipe:
        for payload in payloads:
            pipe.xadd(stream, {PAYLOAD_FIELD: payload})
        ids = await pipe.execute()
    return [entry_id_text(i) for i in ids]


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Figures for health: length, pending in the group, lag, oldest pending age."""

    length: int
    pending: int
    lag: int
    oldest_pending_age_s: float


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
