"""Consumer-group upkeep: claiming entries idle too long, forgetting consumers that left."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

if TYPE_CHECKING:
    from activitylog.ingest.processor import ProcessorConfig


async def claim_stale(redis: aioredis.Redis, cfg: ProcessorConfig, stop: asyncio.Event) -> int:
    """Move entries idle longer than CLAIM_IDLE_MS to `cfg.consumer` (XAUTOCLAIM JUSTID).

    JUSTID leaves delivery counts unchanged; the consumer's pending pass then handles them.
    """
    claimed = 0
    while not stop.is_set():
        reply: Any = await redis.xautoclaim(
            cfg.stream,
            cfg.group,
            cfg.consumer,
            cfg.claim_idle_ms,
            start_id="0-0",
            count=cfg.batch_size,
            justid=True,
        )
        ids = reply if isinstance(reply, list) else []
        claimed += len(ids)
        # Claimed entries are no longer idle, so the next call from 0-0 finds the next.
        if len(ids) < cfg.batch_size or claimed >= cfg.batch_size * 20:
            break
    return claimed


async def forget_idle_consumers(
    redis: aioredis.Redis, cfg: ProcessorConfig, idle_ms: int
) -> list[str]:
    """Delete consumers idle `idle_ms` with nothing pending; a live one re-appears."""
    try:
        consumers = await redis.xinfo_consumers(cfg.stream, cfg.group)
    except ResponseError:
        return []
    removed: list[str] = []
    for info in consumers:
        name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
        if name == cfg.consumer or int(info.get("pending", 0)) or int(info["idle"]) < idle_ms:
            continue
        await redis.xgroup_delconsumer(cfg.stream, cfg.group, name)
        removed.append(name)
    return removed
