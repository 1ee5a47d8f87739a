"""The ingest loop: new entries in batches, own pending first, stale claims, safe trimming."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from activitylog.ingest.processor import REDIS_ERRORS, StreamProcessor
from activitylog.runtime import metrics
from activitylog.runtime.logs import get_logger
from activitylog.storage.stream import sharded_stats, trim_acknowledged

log = get_logger("activitylog.ingest")


class IngestWorker:
    """Runs one consumer until `stop` is set; the batch in hand is committed before exit."""

    def __init__(
        self,
        processor: StreamProcessor,
        *,
        block_ms: int,
        trim_interval_s: float,
        stop: asyncio.Event,
        burst: bool = False,
        stats_keys: Sequence[str] = (),
    ) -> None:
        self.processor = processor
        self.block_ms = block_ms
        self.trim_interval_s = trim_interval_s
        self.stop = stop
        # Burst mode (arq's): drain what the stream holds, then return, instead of waiting
        # for more; tests and one-off catch-ups use it.
        self.burst = burst
        # The gauges show the whole stream: every shard's key (only its own is trimmed).
        self.stats_keys = list(stats_keys) or [processor.config.stream]

    async def run(self) -> None:
        cfg = self.processor.config
        next_claim = 0.0
        next_trim = time.monotonic() + self.trim_interval_s

        async def step() -> bool:
            nonlocal next_claim, next_trim
            if time.monotonic() >= next_claim:
                # First pass on start: our own pending entries (a crash left them) and
                # stale ones of dead consumers; then every half claim interval.
                await self.processor.sweep_stale()
                next_claim = time.monotonic() + cfg.claim_idle_ms / 2000
            entries = await self.processor.read_new(self.block_ms)
            if not entries and self.burst:
                return False  # drained: every entry was delivered, and stored or lettered
            # Acknowledged with the next read, in one round trip (after the commit).
            if entries and not await self.processor.handle(entries, ack_later=True):
                return False
            if time.monotonic() >= next_trim:
                await self._housekeeping()
                next_trim = time.monotonic() + self.trim_interval_s
            return True

        log.info("ingest worker started", stream=cfg.stream, group=cfg.group, consumer=cfg.consumer)
        await self.processor.run_steps(step)
        try:
            await self.processor.flush_acks()
        except REDIS_ERRORS as exc:  # pending, so delivered again: the insert is idempotent
            log.warning("could not acknowledge the last batch", error=repr(exc))
        log.info("ingest worker stopped", consumer=cfg.consumer)

    async def _housekeeping(self) -> None:
        cfg = self.processor.config
        redis = self.processor.redis
        trimmed = await trim_acknowledged(redis, cfg.stream)
        stats = await sharded_stats(redis, self.stats_keys, cfg.group)
        metrics.STREAM_LENGTH.set(stats.length)
        metrics.STREAM_PENDING.set(stats.pending)
        metrics.STREAM_LAG.set(stats.lag)
        if trimmed:
            log.info("stream trimmed", removed=trimmed, length=stats.length)
