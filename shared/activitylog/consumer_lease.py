"""A consumer name unique among live replicas and stable across a replica's restarts.

The base name is the host name (a compose replica keeps it across restarts), so a
restarted worker finds its own pending entries; a lease in Redis makes a second process
with the same base name take the next free suffix instead of sharing the first one's
pending list.
"""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError

from activitylog.logs import get_logger

log = get_logger("activitylog.lease")


class ConsumerLease:
    """Holds `<stream>:consumer-lease:<name>` while the worker runs, refreshing it."""

    def __init__(self, redis: aioredis.Redis, stream: str, base: str, ttl_s: float) -> None:
        self.redis = redis
        self.prefix = f"{stream}:consumer-lease:"
        self.base = base
        self.ttl_s = ttl_s
        self.name = base
        self._lock: Lock | None = None
        self._task: asyncio.Task[None] | None = None

    async def acquire(self, max_suffix: int = 1000) -> str:
        for n in range(1, max_suffix + 1):
            name = self.base if n == 1 else f"{self.base}-{n}"
            lock = self.redis.lock(self.prefix + name, timeout=self.ttl_s, blocking=False)
            if await lock.acquire():
                self.name, self._lock = name, lock
                self._task = asyncio.create_task(self._refresh(), name=f"lease-{name}")
                return name
        raise RuntimeError(f"no free consumer name for {self.base!r} (tried {max_suffix})")

    async def _refresh(self) -> None:
        assert self._lock is not None
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await self._lock.reacquire()
            except LockError:
                # Expired (Redis restarted or we stalled): take it again if still free.
                if not await self._lock.acquire():
                    log.warning("consumer lease taken by another process", consumer=self.name)
            except (ConnectionError, OSError, aioredis.RedisError) as exc:
                log.warning("could not refresh consumer lease", error=repr(exc))

    async def release(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._lock is not None:
            with contextlib.suppress(LockError, aioredis.RedisError, OSError):
                await self._lock.release()
