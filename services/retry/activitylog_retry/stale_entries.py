"""Stale stream entries: claimed from consumers that stopped, even with no ingest running."""

from __future__ import annotations

import asyncio
import contextlib

from activitylog.ingest.processor import StreamProcessor


class StaleEntrySweeper:
    """Every half CLAIM_IDLE_MS: XAUTOCLAIM idle entries, store them, forget dead consumers."""

    def __init__(self, processor: StreamProcessor, stop: asyncio.Event) -> None:
        self.processor = processor
        self.stop = stop

    async def run(self) -> None:
        interval_s = self.processor.config.claim_idle_ms / 2000

        async def step() -> bool:
            await self.processor.sweep_stale()
            # The consume loop goes again at once: wait here, as the stop signal allows.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=interval_s)
            return True

        await self.processor.run_steps(step)
