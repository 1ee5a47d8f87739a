"""A worker of a sharded stream: consumes the shards it leases, one IngestWorker a shard,
started and stopped as the fair plan (domain.shard_plan) moves shards between workers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from activitylog.domain.shard_plan import moves, plan_shards
from activitylog.ingest.lease import ShardLeases
from activitylog.ingest.recovery import REDIS_ERRORS
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.logs import get_logger
from activitylog_ingest.worker import IngestWorker

log = get_logger("activitylog.ingest")

# Makes the worker of one shard (its index), stopped by the event given.
WorkerFactory = Callable[[int, asyncio.Event], IngestWorker]


class ShardedIngest:
    """Runs the workers of the shards this process leases until `stop` is set."""

    def __init__(
        self, leases: ShardLeases, make_worker: WorkerFactory, stop: asyncio.Event, backoff: Backoff
    ) -> None:
        self.leases = leases
        self.make_worker = make_worker
        self.stop = stop
        self.backoff = backoff
        self._running: dict[int, tuple[asyncio.Event, asyncio.Task[None]]] = {}

    async def run(self) -> None:
        try:
            while not self.stop.is_set():
                self._raise_failed()
                try:
                    await self._rebalance()
                except REDIS_ERRORS as exc:
                    # Our leases lapse if this lasts: the shards' workers keep going (they
                    # back off too) until a step shows another worker took a shard over.
                    log.warning("shard leases unavailable; backing off", error=repr(exc))
                    await self.backoff.wait(self.stop)
                    continue
                self.backoff.reset()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=self.leases.ttl_s / 3)
        finally:
            await asyncio.gather(*(self._end(k) for k in list(self._running)))
            await self.leases.leave()

    async def _rebalance(self) -> None:
        state = await self.leases.step()
        take, drop = moves(
            self.leases.name,
            plan_shards(self.leases.shards, state.members, state.holders),
            state.holders,
        )
        held = self.leases.held(state)
        # Stopped before the lease goes, so that the next holder starts after our last batch.
        await asyncio.gather(*(self._end(k) for k in self._running if k not in held or k in drop))
        if take or drop:
            state = await self.leases.step(take=take, drop=drop)
            held = self.leases.held(state)
        for shard in sorted(held - self._running.keys()):
            shard_stop = asyncio.Event()
            task = asyncio.create_task(
                self.make_worker(shard, shard_stop).run(), name=f"shard-{shard}"
            )
            self._running[shard] = (shard_stop, task)
        if take or drop:
            log.info("shards moved", consumer=self.leases.name, held=sorted(held))

    async def _end(self, shard: int) -> None:
        shard_stop, task = self._running.pop(shard)
        shard_stop.set()
        await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            log.error("shard worker failed", shard=shard, error=repr(task.exception()))

    def _raise_failed(self) -> None:
        """A shard's worker that failed takes the process down, as the single worker does."""
        for _, task in self._running.values():
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
