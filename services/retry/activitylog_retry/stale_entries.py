"""Stale stream entries (§5): claimed from consumers that stopped, even with no ingest running."""

from __future__ import annotations

import asyncio
import contextlib

from redis.exceptions import ResponseError

from activitylog.backoff import Backoff
from activitylog.logs import get_logger
from activitylog.stream import ensure_group
from activitylog.stream_processor import REDIS_ERRORS, StreamProcessor

log = get_logger("activitylog.retry.stale")


class StaleEntrySweeper:
    """Every half CLAIM_IDLE_MS: XAUTOCLAIM idle entries, store them, forget dead consumers."""

    def __init__(self, processor: StreamProcessor, stop: asyncio.Event) -> None:
        self.processor = processor
        self.stop = stop

    async def run(self) -> None:
        cfg = self.processor.config
        backoff = Backoff(cfg.backoff_initial_s, cfg.backoff_max_s)
        group_ready = False
        interval_s = cfg.claim_idle_ms / 2000
        while not self.stop.is_set():
            try:
                if not group_ready:
                    await ensure_group(self.processor.redis, cfg.stream, cfg.group)
                    group_ready = True
                await self.processor.sweep_stale()
                backoff.reset()
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("consumer group missing; recreating", stream=cfg.stream)
                group_ready = False
                continue
            except REDIS_ERRORS as exc:
                log.warning("redis unavailable; backing off", error=repr(exc))
                if await backoff.wait(self.stop):
                    break
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=interval_s)
