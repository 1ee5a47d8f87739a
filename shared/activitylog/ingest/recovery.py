"""A consumer's pending entries: re-read after a crash, claimed from consumers that
stopped, and given up to the retry queue after too many deliveries (the stream processor's
half that reads XPENDING)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import redis.asyncio as aioredis

from activitylog.contract.stream_format import (
    PAYLOAD_FIELD,
    Entry,
    entry_id_text,
    normalise_entries,
)
from activitylog.domain.dead_letters import DeadLetter, RetryStatus
from activitylog.domain.stream_entries import (
    fields_text,
    guess_lead,
)
from activitylog.ingest.claims import claim_stale, forget_idle_consumers
from activitylog.runtime.logs import get_logger
from activitylog.storage.stream import REDIS_OUTAGES

if TYPE_CHECKING:
    from activitylog.ingest.processor import ProcessorConfig

log = get_logger("activitylog.stream")
FORGET_CONSUMER_AFTER_MS = 15 * 60 * 1000
REDIS_ERRORS = REDIS_OUTAGES


class PendingRecovery:
    """The processor's methods over pending entries; it provides the attributes below."""

    config: ProcessorConfig
    redis: aioredis.Redis
    pool: asyncpg.Pool
    stop: asyncio.Event

    async def handle(self, entries: Sequence[Entry], *, ack_later: bool = False) -> bool:
        raise NotImplementedError

    # -- pending entries -----------------------------------------------------------------

    async def recover_pending(self) -> int:
        """Handle this consumer's pending entries: the ones a crash left or a claim brought.

        Counts come from XPENDING (which does not deliver); entries delivered before are
        re-delivered one at a time, so a crashing entry only ever counts its own attempts.
        """
        cfg = self.config
        handled = 0
        start = "-"
        while not self.stop.is_set():
            rows = await self.redis.xpending_range(
                cfg.stream,
                cfg.group,
                min=start,
                max="+",
                count=cfg.batch_size,
                consumername=cfg.consumer,
            )
            if not rows:
                break
            exhausted: list[tuple[str, int]] = []
            first_time: list[str] = []
            retried: list[str] = []
            for row in rows:
                entry_id = entry_id_text(row["message_id"])
                delivered = int(row["times_delivered"])
                if delivered >= cfg.max_deliveries:
                    exhausted.append((entry_id, delivered))
                elif delivered <= 1:
                    first_time.append(entry_id)
                else:
                    retried.append(entry_id)
            if exhausted and not await self._give_up(exhausted):
                return handled
            if first_time and not await self.handle(await self._claim(first_time)):
                return handled
            for entry_id in retried:
                if not await self.handle(await self._claim([entry_id])):
                    return handled
            handled += len(rows)
            start = "(" + entry_id_text(rows[-1]["message_id"])
        return handled

    async def _claim(self, ids: list[str]) -> list[Entry]:
        """XCLAIM to ourselves: delivers the entries (counting it) and returns their fields."""
        cfg = self.config
        reply = await self.redis.xclaim(cfg.stream, cfg.group, cfg.consumer, 0, ids)
        entries = normalise_entries(reply)
        found = {entry_id for entry_id, _ in entries}
        gone = [i for i in ids if i not in found]
        if gone:
            # Trimmed or deleted while pending: nothing left to store.
            log.warning("pending entries no longer in the stream", stream_ids=gone)
            await self.redis.xack(cfg.stream, cfg.group, *gone)
        return [(i, f) for i, f in entries if f is not None] + [
            (i, None) for i, f in entries if f is None and i not in gone
        ]

    async def _give_up(self, exhausted: list[tuple[str, int]]) -> bool:
        """Entries delivered INGEST_MAX_DELIVERIES times: to retry_queue (pending), then XACK."""
        cfg = self.config
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry_id, _ in exhausted:
                pipe.xrange(cfg.stream, min=entry_id, max=entry_id, count=1)
            found = await pipe.execute()
        letters: list[DeadLetter] = []
        now = datetime.now(UTC)
        for (entry_id, delivered), reply in zip(exhausted, found, strict=True):
            entries = normalise_entries(reply)
            fields = entries[0][1] if entries else None
            if fields is None:
                log.warning("exhausted entry no longer in the stream", stream_id=entry_id)
                continue
            raw = fields.get(PAYLOAD_FIELD)
            payload = (
                raw.decode("utf-8", "backslashreplace") if raw is not None else fields_text(fields)
            )
            letters.append(
                DeadLetter(
                    entry_id,
                    guess_lead(payload),
                    payload,
                    f"delivered {delivered} times without being stored "
                    f"(INGEST_MAX_DELIVERIES={cfg.max_deliveries}); the worker failed each time",
                    RetryStatus.PENDING,
                    next_retry_at=now,
                )
            )
        ids = [entry_id for entry_id, _ in exhausted]
        if letters and not await self._store([], letters, ids):
            return False
        return await self._ack(ids)

    # -- stale entries of other consumers -------------------------------------------------

    async def sweep_stale(self, forget_after_ms: int = FORGET_CONSUMER_AFTER_MS) -> int:
        """Claim stale entries, handle everything pending here, forget consumers that left."""
        if not await self.flush_acks():
            return 0
        claimed = await claim_stale(self.redis, self.config, self.stop)
        if claimed:
            log.info(
                "claimed stale pending entries", entries=claimed, consumer=self.config.consumer
            )
        handled = await self.recover_pending()
        removed = await forget_idle_consumers(self.redis, self.config, forget_after_ms)
        if removed:
            log.info("removed idle consumers", consumers=removed)
        return handled
