"""Turns stream entries into stored events and acknowledges them only after commit.

The ingest service feeds it new entries; the same object re-reads its consumer's own
pending entries, claims stale ones from dead consumers, and moves entries delivered too
often to the retry queue, so one poison entry never blocks the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from activitylog.contract.identity import AcceptedEvent
from activitylog.contract.stream_format import (
    Entry,
    normalise_entries,
)
from activitylog.domain.dead_letters import DeadLetter, RetryStatus
from activitylog.domain.stream_entries import (
    LAST_RESORT_PREFIX,
    dead_letter,
    decode_entry,
    fields_text,
    guess_lead,
    last_resort,
)
from activitylog.ingest.recovery import (
    REDIS_ERRORS,
    PendingRecovery,
)
from activitylog.ingest.reporting import record_stored
from activitylog.runtime import metrics
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.cancellation import reraise_if_cancelling
from activitylog.runtime.db import is_transient
from activitylog.runtime.logs import get_logger
from activitylog.runtime.service_loop import Next, run_loop
from activitylog.runtime.settings import Settings
from activitylog.runtime.stages import stage
from activitylog.storage.stream import ensure_group
from activitylog.use_cases.store_batch import store_batch

log = get_logger("activitylog.stream")


@dataclass(frozen=True, slots=True)
class ProcessorConfig:
    stream: str
    group: str
    consumer: str
    batch_size: int = 500
    max_deliveries: int = 5
    claim_idle_ms: int = 60_000
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 30.0
    pending_delay: timedelta = timedelta(minutes=1)
    path: str = "stream"  # metrics label: which service is storing

    @classmethod
    def from_settings(cls, settings: Settings, *, consumer: str, path: str) -> ProcessorConfig:
        return cls(
            stream=settings.activity_stream,
            group=settings.ingest_group,
            consumer=consumer,
            batch_size=settings.ingest_batch_size,
            max_deliveries=settings.ingest_max_deliveries,
            claim_idle_ms=settings.claim_idle_ms,
            backoff_initial_s=settings.backoff_initial_s,
            backoff_max_s=settings.backoff_max_s,
            pending_delay=timedelta(seconds=settings.pending_retry_delay_s),
            path=path,
        )


class StreamProcessor(PendingRecovery):
    """Stores batches of entries for one consumer of one group; see the module docstring."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        config: ProcessorConfig,
        stop: asyncio.Event,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.config = config
        self.stop = stop
        # Entries stored and committed, acknowledged with the next read (one round trip).
        self._acks: list[str] = []

    async def run_steps(self, step: Callable[[], Awaitable[bool]]) -> None:
        """Call `step` until it returns False or `stop` is set, with the group in place, in
        the one service loop.

        The group is created first and again if Redis lost it (a restart without
        persistence); while Redis or PostgreSQL is unreachable the loop backs off.
        """
        cfg = self.config
        group_ready = False

        async def consume() -> Next:
            nonlocal group_ready
            if not group_ready:
                await ensure_group(self.redis, cfg.stream, cfg.group)
                group_ready = True
            return Next.AGAIN if await step() else Next.STOP

        def outage(exc: BaseException) -> bool | Next:
            nonlocal group_ready
            if isinstance(exc, REDIS_ERRORS):
                return True  # a failover's CLUSTERDOWN, MOVED, TRYAGAIN too: back off
            if isinstance(exc, ResponseError):
                # NOGROUP: the group is gone; UNBLOCKED: the stream vanished under a read.
                # A pipelined read reports it as "Command # n (…) caused error: UNBLOCKED …".
                if not any(word in str(exc) for word in ("NOGROUP", "UNBLOCKED")):
                    return False
                log.warning("consumer group missing; recreating", stream=cfg.stream, error=str(exc))
                group_ready = False
                return Next.AGAIN
            if not isinstance(exc, REDIS_ERRORS) and not is_transient(exc):
                # Entries are isolated in `handle`, so this is a fault of our own: the
                # unacknowledged entries stay pending and the next sweep re-reads them.
                metrics.STEP_FAILURES.labels(cfg.path).inc()
                log.exception("consume step failed; backing off", error=repr(exc))
            return True

        backoff = Backoff(cfg.backoff_initial_s, cfg.backoff_max_s)
        await run_loop(consume, stop=self.stop, backoff=backoff, job=cfg.path, outage=outage)

    # -- new entries -------------------------------------------------------------------

    async def read_new(self, block_ms: int) -> list[Entry]:
        """XREADGROUP '>' for up to a batch of entries never delivered before, sent in one
        pipeline after the XACK of the last batch stored (`handle(…, ack_later=True)`)."""
        cfg = self.config
        with stage("stream read"):
            if self._acks:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.xack(cfg.stream, cfg.group, *self._acks)
                    pipe.xreadgroup(
                        cfg.group,
                        cfg.consumer,
                        {cfg.stream: ">"},
                        count=cfg.batch_size,
                        block=block_ms,
                    )
                    _, reply = await pipe.execute()
                self._acks = []
            else:
                reply = await self.redis.xreadgroup(
                    cfg.group,
                    cfg.consumer,
                    {cfg.stream: ">"},
                    count=cfg.batch_size,
                    block=block_ms,
                )
        if not reply:
            return []
        return normalise_entries(reply[0][1])

    async def flush_acks(self) -> bool:
        """Acknowledge the entries stored and not acknowledged yet (before a sweep, on exit)."""
        ids, self._acks = self._acks, []
        return not ids or await self._ack(ids)

    async def handle(self, entries: Sequence[Entry], *, ack_later: bool = False) -> bool:
        """Store entries and XACK them, or with `ack_later` leave the XACK to the next
        `read_new` (only after the commit either way); False if stopped before they could be
        stored."""
        if not entries:
            return True
        metrics.ENTRIES_CONSUMED.labels(self.config.path).inc(len(entries))
        accepted: list[AcceptedEvent] = []
        letters: list[DeadLetter] = []
        with stage("decode and validation"):
            for entry_id, fields in entries:
                try:
                    item = decode_entry(entry_id, fields)
                except Exception as exc:  # no entry may stop the worker, whatever it holds
                    item = dead_letter(
                        entry_id, fields_text(fields), f"entry cannot be decoded: {exc!r}"
                    )
                if isinstance(item, AcceptedEvent):
                    accepted.append(item)
                else:
                    letters.append(item)
        ids = [entry_id for entry_id, _ in entries]
        if not await self._store(accepted, letters, ids):
            return False
        if ack_later:
            self._acks += ids
            return True
        return await self._ack(ids)

    async def _store(
        self, accepted: list[AcceptedEvent], letters: list[DeadLetter], ids: list[str]
    ) -> bool:
        """Commit with back-off while PostgreSQL is unavailable; isolate rows it rejects."""
        path = self.config.path
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s)
        keep_claimed_at = time.monotonic() + self.config.claim_idle_ms / 3000
        while True:
            started = time.perf_counter()
            try:
                with stage("store (whole)"):
                    async with self.pool.acquire() as conn:
                        result = await store_batch(
                            conn, accepted, letters, pending_delay=self.config.pending_delay
                        )
            except Exception as exc:
                if is_transient(exc):
                    metrics.DB_BACKOFFS.labels(path).inc()
                    log.warning(
                        "database unavailable; batch kept pending",
                        error=repr(exc),
                        entries=len(ids),
                        first_id=ids[0],
                        last_id=ids[-1],
                        attempt=backoff.attempt + 1,
                    )
                    if time.monotonic() >= keep_claimed_at:
                        # Reset the entries' idle time so other replicas do not claim a
                        # batch that is only waiting for the database.
                        await self._keep_claimed(ids)
                        keep_claimed_at = time.monotonic() + self.config.claim_idle_ms / 3000
                    if await backoff.wait(self.stop):
                        return False
                    continue
                return await self._isolate(accepted, letters, ids, exc)
            record_stored(path, ids, accepted, letters, result, time.perf_counter() - started)
            return True

    async def _isolate(
        self,
        accepted: list[AcceptedEvent],
        letters: list[DeadLetter],
        ids: list[str],
        exc: BaseException,
    ) -> bool:
        """Storing the batch failed for a reason in the data: store entries one by one.

        An event that still fails becomes a dead letter; a letter that still fails is kept
        in a form that is always storable, so the entry is never acknowledged unrecorded.
        """
        if len(accepted) + len(letters) <= 1:
            if accepted:
                bad = accepted[0]
                letter = DeadLetter(
                    bad.origin,
                    guess_lead(bad.raw),
                    bad.raw,
                    f"could not be stored: {exc!r}",
                    RetryStatus.DEAD,
                )
                return await self._store([], [letter], ids)
            if letters and not letters[0].reason.startswith(LAST_RESORT_PREFIX):
                return await self._store([], [last_resort(letters[0], exc)], ids)
            raise RuntimeError(f"retry_queue rejected a dead letter: {exc!r}") from exc
        log.warning(
            "batch rejected by the database; storing entries one by one",
            error=str(exc),
            stream_ids=ids,
        )
        for item in accepted:
            if not await self._store([item], [], [item.origin]):
                return False
        for letter in letters:
            if not await self._store([], [letter], [letter.queue_id]):
                return False
        return True

    async def _ack(self, ids: list[str]) -> bool:
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s)
        while True:
            try:
                with stage("XACK"):
                    await self.redis.xack(self.config.stream, self.config.group, *ids)
                return True
            except REDIS_ERRORS as exc:
                # Stored but not acknowledged: redelivery is harmless (idempotent insert).
                log.warning(
                    "XACK failed; retrying",
                    error=repr(exc),
                    entries=len(ids),
                    first_id=ids[0],
                    last_id=ids[-1],
                )
                if await backoff.wait(self.stop):
                    return False

    async def _keep_claimed(self, ids: list[str]) -> None:
        cfg = self.config
        try:
            await self.redis.xclaim(cfg.stream, cfg.group, cfg.consumer, 0, ids, justid=True)
        except REDIS_ERRORS as exc:
            reraise_if_cancelling()
            log.warning("could not refresh pending entries", error=repr(exc))
