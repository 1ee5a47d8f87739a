"""Stale stream entries: claimed from consumers that stopped, and acknowledged ones trimmed,
even with no ingest running."""

from __future__ import annotations

import asyncio
import contextlib

from activitylog.ingest.processor import StreamProcessor
from activitylog.runtime.logs import get_logger
from activitylog.storage.stream import trim_acknowledged

log = get_logger("activitylog.retry")


class StaleEntrySweeper:
    """Every half CLAIM_IDLE_MS, on its shard: XAUTOCLAIM idle entries, store them, forget
    dead consumers, and trim what every group has acknowledged."""

    def __init__(self, processor: StreamProcessor, stop: asyncio.Event) -> None:
        self.processor = processor
        self.stop = stop

    async def run(self) -> None:
        interval_s = self.processor.config.claim_idle_ms / 2000

        async def step() -> bool:
            await self.processor.sweep_stale()
            # The shard's ingest holder trims it too; with no ingest running (or a shard
            # between holders) the stream would otherwise only grow.
            trimmed = await trim_acknowledged(self.processor.redis, self.processor.config.stream)
            if trimmed:
                log.info("stream trimmed", stream=self.processor.config.stream, removed=trimmed)
            # The consume loop goes again at once: wait here, as the stop signal allows.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=interval_s)
            return True

        await self.processor.run_steps(step)
