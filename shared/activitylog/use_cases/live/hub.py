"""The API's one subscription: POSTs that wait for their events, and live streams woken by it."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisClusterException, RedisError

from activitylog.runtime.backoff import Backoff
from activitylog.runtime.logs import get_logger
from activitylog.storage import live as live_sql
from activitylog.use_cases.live.announcements import Announcement
from activitylog.use_cases.live.limits import LIVE_STREAMS, WAIT_CHECK_S, WAITS

log = get_logger("activitylog.live")

# -- the API's subscription ----------------------------------------------------------------


@dataclass(slots=True)
class WaitOutcome:
    """Where a request's events are after its wait."""

    stored: set[uuid.UUID]
    parked: dict[uuid.UUID, str]
    waited_s: float

    def settled(self, ids: Collection[uuid.UUID]) -> bool:
        return all(i in self.stored or i in self.parked for i in ids)


class Waiter:
    """The ids one request waits for; registered before they are published."""

    def __init__(self, hub: LiveHub, ids: Sequence[uuid.UUID]) -> None:
        self._hub = hub
        self.ids = list(dict.fromkeys(ids))
        self.stored: set[uuid.UUID] = set()
        self.parked: dict[uuid.UUID, str] = {}
        self.done = asyncio.Event()

    def _remaining(self) -> list[uuid.UUID]:
        return [i for i in self.ids if i not in self.stored and i not in self.parked]

    def told(self, announcement: Announcement) -> None:
        for i in self.ids:
            if i in announcement.stored:
                self.stored.add(i)
                self.parked.pop(i, None)
            elif i in announcement.parked and i not in self.stored:
                self.parked[i] = announcement.parked[i]
        if not self._remaining():
            self.done.set()

    async def wait(
        self,
        seconds: float,
        check: Callable[[list[uuid.UUID]], Awaitable[set[uuid.UUID]]],
        *,
        ask_first: bool = False,
    ) -> WaitOutcome:
        """Until every id is stored or parked, at most `seconds`; `check` asks the database
        which of the ids are stored, every WAIT_CHECK_S and at the end (and at once with
        `ask_first`)."""
        started = time.monotonic()
        deadline = started + seconds
        if ask_first:
            await self._ask(check)
        while not self.done.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self._hub.closing.is_set():
                break
            if await self._hub.until(self.done, min(left, WAIT_CHECK_S)):
                break
            await self._ask(check)
        if not self.done.is_set():
            await self._ask(check)
        outcome = WaitOutcome(set(self.stored), dict(self.parked), time.monotonic() - started)
        WAITS.labels(
            "stored"
            if len(self.stored) == len(self.ids)
            else "parked"
            if outcome.settled(self.ids)
            else "timeout"
        ).inc()
        return outcome

    async def _ask(self, check: Callable[[list[uuid.UUID]], Awaitable[set[uuid.UUID]]]) -> None:
        remaining = self._remaining()
        if not remaining:
            return
        try:
            found = await check(remaining)
        except Exception as exc:  # the answer is then "not stored yet", never an error
            log.warning("could not check whether events are stored", error=repr(exc))
            return
        self.stored |= found
        if not self._remaining():
            self.done.set()


class Listener:
    """A live stream's wake-up: set by announcements it wants."""

    def __init__(self, wants: Callable[[Announcement], bool]) -> None:
        self.wants = wants
        self.woken = asyncio.Event()

    def told(self, announcement: Announcement) -> None:
        if self.wants(announcement):
            self.woken.set()


class LiveHub:
    """One Redis subscription per API process to what the ingest stores (see the module)."""

    def __init__(self, redis: aioredis.Redis, stream: str) -> None:
        self._redis = redis
        self.channel = live_sql.stored_channel(stream)
        self.ready = asyncio.Event()  # subscribed: announcements arrive
        self.closing = asyncio.Event()  # the API is stopping: waits and streams end
        self._waiters: dict[uuid.UUID, set[Waiter]] = {}
        self._listeners: set[Listener] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live-hub")

    def close_streams(self) -> None:
        """End every wait and live stream now (first step of a shutdown: the server waits
        for open responses, and a live stream never ends by itself)."""
        self.closing.set()
        for listener in self._listeners:
            listener.woken.set()

    async def close(self) -> None:
        self.close_streams()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._redis.aclose()

    async def until(self, event: asyncio.Event, seconds: float) -> bool:
        """Wait for `event` at most `seconds` (less if the hub closes); True if it is set."""
        if event.is_set():
            return True
        waits = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(self.closing.wait())}
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        return event.is_set()

    async def wait_ready(self, seconds: float) -> bool:
        return await self.until(self.ready, seconds)

    @contextlib.contextmanager
    def expecting(self, ids: Sequence[uuid.UUID]) -> Iterator[Waiter]:
        """A waiter for `ids`, told of announcements while the block runs."""
        waiter = Waiter(self, ids)
        for i in waiter.ids:
            self._waiters.setdefault(i, set()).add(waiter)
        try:
            yield waiter
        finally:
            for i in waiter.ids:
                holders = self._waiters.get(i)
                if holders is not None:
                    holders.discard(waiter)
                    if not holders:
                        del self._waiters[i]

    @contextlib.contextmanager
    def listening(self, wants: Callable[[Announcement], bool]) -> Iterator[Listener]:
        listener = Listener(wants)
        self._listeners.add(listener)
        LIVE_STREAMS.inc()
        try:
            yield listener
        finally:
            self._listeners.discard(listener)
            LIVE_STREAMS.dec()

    @property
    def streams(self) -> int:
        return len(self._listeners)

    def dispatch(self, announcement: Announcement) -> None:
        waiters: set[Waiter] = set()
        for i in (*announcement.stored, *announcement.parked):
            waiters |= self._waiters.get(i, set())
        for waiter in waiters:
            waiter.told(announcement)
        for listener in list(self._listeners):
            listener.told(announcement)

    async def _run(self) -> None:
        backoff = Backoff(0.2, 5.0)
        while not self.closing.is_set():
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while not self.closing.is_set():
                    message = await pubsub.get_message(timeout=None)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self.ready.set()
                        backoff.reset()
                    elif message["type"] == "message":
                        announcement = Announcement.decode(message["data"])
                        if announcement is not None:
                            self.dispatch(announcement)
            except (RedisError, OSError, RedisClusterException) as exc:
                self.ready.clear()
                log.warning("live subscription lost; resubscribing", error=repr(exc))
                # Streams look at the database themselves meanwhile; waits ask it too.
                for listener in list(self._listeners):
                    listener.woken.set()
                if await backoff.wait(self.closing):
                    return
            finally:
                self.ready.clear()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()


async def stored_among(
    pool: asyncpg.Pool,
    ids: Sequence[uuid.UUID],
    timeout: float,  # noqa: ASYNC109 - one query's deadline
) -> set[uuid.UUID]:
    """Which of `ids` are stored (a waiting request asks when no announcement came)."""
    async with asyncio.timeout(timeout), pool.acquire() as conn:
        return await live_sql.stored_ids(conn, ids)
