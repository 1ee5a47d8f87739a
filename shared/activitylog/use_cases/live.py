"""Live: what the ingest stored, told at once to the API that waits for it.

- The ingest announces each committed batch on a Redis pub/sub channel beside its stream
  (`StoredAnnouncer`, called by `activitylog.ingest.reporting` after the batch's report):
  the ids stored (or found already there), the ids parked in the retry queue, the leads
  they named. Best effort: a lost announcement only makes a reader look later.
- Each API process holds one subscription (`LiveHub`): a POST with `Prefer: wait` waits on
  it for its ids to be stored (docs/CONTRACT.md §5), and each live stream (server-sent
  events) wakes on it to read what is new for it.
- A live stream reads the log in its own order (`LogFollower`, over storage.live): rows
  above a horizon below which every transaction has ended, each row sent once; a slow
  look at the database every few seconds catches what no announcement told (events stored
  by the retry service, the API's direct fallback, a backfill).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import orjson
import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge
from redis.exceptions import RedisError

from activitylog.contract.identity import AcceptedEvent
from activitylog.domain.dead_letters import DeadLetter
from activitylog.domain.followers import LogPlace
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.db import is_transient
from activitylog.runtime.logs import get_logger
from activitylog.storage import live as live_sql
from activitylog.storage.live import Scope, place_of
from activitylog.use_cases.store_batch import StoreResult

log = get_logger("activitylog.live")

# A client may ask to wait at most this long for its events to be stored (Prefer: wait=N).
MAX_WAIT_S = 5.0
# While waiting, the database is asked directly this often (an announcement may be lost).
WAIT_CHECK_S = 1.0
# A live stream looks at the database at least this often, announced or not.
FALLBACK_POLL_S = 5.0
# Rows a live stream reads per statement, and sends per wake-up at most.
TAIL_PAGE = 200
MAX_ROWS_PER_WAKE = 500
# Rows above the horizon a stream remembers having sent; past this (a transaction kept open
# for long elsewhere), it stops looking back below the newest of them.
MAX_BAND = 5_000

LIVE_STREAMS = Gauge(
    "activitylog_api_live_streams",
    "Live event streams (server-sent events) open now",
    multiprocess_mode="livesum",
)
WAITS = Counter(
    "activitylog_api_write_waits",
    "POSTs that waited for their events to be stored (Prefer: wait), by outcome "
    "(stored, parked: in the retry queue, timeout)",
    ["outcome"],
)


# -- the announcement ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Announcement:
    """What one committed batch did, as the API needs to know it."""

    stored: frozenset[uuid.UUID] = frozenset()  # rows of the log now (new or already there)
    parked: dict[uuid.UUID, str] = field(default_factory=dict)  # id → retry_queue status
    leads: frozenset[str] = frozenset()  # the lead references its stored events named
    unrouted: bool = False  # a stored event named its lead by phone, email or message

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "s": [i.hex for i in self.stored],
                "p": {i.hex: status for i, status in self.parked.items()},
                "l": sorted(self.leads),
                "u": self.unrouted,
            }
        )

    @classmethod
    def decode(cls, data: bytes | str) -> Announcement | None:
        """The announcement in `data`, or None for anything else on the channel."""
        try:
            raw = orjson.loads(data)
            return cls(
                frozenset(uuid.UUID(hex=i) for i in raw.get("s", ())),
                {uuid.UUID(hex=i): str(s) for i, s in dict(raw.get("p", {})).items()},
                frozenset(str(ref) for ref in raw.get("l", ())),
                bool(raw.get("u", False)),
            )
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            return None


def announcement_of(accepted: Sequence[AcceptedEvent], result: StoreResult) -> Announcement:
    """The announcement of a batch: its events stored and those its letters parked."""
    by_origin = {a.origin: a.id for a in accepted}
    parked = {
        by_origin[letter.queue_id]: letter.status.value
        for letter in result.refused
        if letter.queue_id in by_origin
    }
    stored = frozenset(result.inserted | result.duplicates)
    leads: set[str] = set()
    unrouted = False
    for a in accepted:
        if a.id not in stored:
            continue
        e = a.event
        if e.lead_airtable_id:
            leads.add(e.lead_airtable_id)
        if e.lead_id:
            leads.add(str(e.lead_id))
        if not e.lead_airtable_id and not e.lead_id:
            unrouted = True
    return Announcement(stored, parked, frozenset(leads), unrouted)


class StoredAnnouncer:
    """Publishes each committed batch's announcement (set up by the ingest's wiring around
    its worker, `activitylog.ingest.reporting.announcing`). Never fails the batch: each
    PUBLISH runs in the background and a failure is logged once in a while."""

    def __init__(self, redis: aioredis.Redis, stream: str) -> None:
        self._redis = redis
        self._channel = live_sql.stored_channel(stream)
        self._tasks: set[asyncio.Task[None]] = set()
        self._warned_at = 0.0

    def __call__(
        self,
        accepted: Sequence[AcceptedEvent],
        letters: Sequence[DeadLetter],
        result: StoreResult,
    ) -> None:
        announcement = announcement_of(accepted, result)
        if not announcement.stored and not announcement.parked:
            return
        task = asyncio.get_running_loop().create_task(self._publish(announcement.encode()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, message: bytes) -> None:
        try:
            await live_sql.announce(self._redis, self._channel, message)
        except (RedisError, OSError) as exc:
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                log.warning("could not announce a stored batch", error=repr(exc))

    async def drain(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109
        """Let the announcements in flight finish (the worker is stopping)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


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
            except (RedisError, OSError) as exc:
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


# -- a live stream's reading of the log ----------------------------------------------------


class LogFollower:
    """What is new in the log for one live stream, each row once (see storage.live)."""

    def __init__(self, scope: Scope, cursor: LogPlace) -> None:
        self.scope = scope
        self.cursor = cursor
        self._sent: dict[uuid.UUID, LogPlace] = {}

    @property
    def token(self) -> str:
        """Where a stream resumes (its SSE event id): its horizon, `tx.position`."""
        return f"{self.cursor.tx}.{self.cursor.position}"

    @staticmethod
    def parse_token(text: str | None) -> LogPlace | None:
        if not text:
            return None
        tx, _, position = text.strip().partition(".")
        if not (tx.isdigit() and position.isdigit()) or len(tx) > 19 or len(position) > 19:
            return None
        place = LogPlace(int(tx), int(position))
        return place if place.tx < 2**63 and place.position < 2**63 else None

    @classmethod
    async def starting(
        cls, conn: asyncpg.Connection, scope: Scope, resume: LogPlace | None = None
    ) -> LogFollower:
        """From `resume` (a stream's last event id: what was stored after it, perhaps again
        a row sent before), else from now: every row visible now counts as sent."""
        if resume is not None:
            return cls(scope, resume)
        follower = cls(scope, await live_sql.horizon(conn))
        # Rows above the horizon (transactions ended while an older one still runs) are
        # visible already: not new. Remember them, as if sent.
        band = await live_sql.tail(conn, follower.cursor, scope, MAX_BAND)
        follower._sent = {row["id"]: place_of(row) for row in band.rows}
        if len(band.rows) >= MAX_BAND:
            follower.cursor = place_of(band.rows[-1])
            follower._sent.clear()
        return follower

    async def arrived_since(
        self, conn: asyncpg.Connection, since: datetime, limit: int = TAIL_PAGE
    ) -> list[asyncpg.Record]:
        """Rows stored since `since` (a page's time), oldest first: what a page rendered
        then may lack, read once before following (sent even if counted as seen)."""
        rows = await live_sql.arrived_since(conn, since, self.scope, limit)
        for row in rows:
            place = place_of(row)
            if place > self.cursor:
                self._sent[row["id"]] = place
        return rows

    async def read(
        self, conn: asyncpg.Connection, max_rows: int = MAX_ROWS_PER_WAKE
    ) -> list[asyncpg.Record]:
        """The rows in scope stored since the last read, in log order."""
        out: list[asyncpg.Record] = []
        after = self.cursor
        first_horizon: LogPlace | None = None
        complete = False
        while len(out) < max_rows:
            found = await live_sql.tail(conn, after, self.scope, TAIL_PAGE)
            first_horizon = first_horizon or found.horizon
            out += self._unsent(found.rows)
            if len(found.rows) < TAIL_PAGE:
                complete = True
                break
            after = place_of(found.rows[-1])
        assert first_horizon is not None
        moved = first_horizon if complete else min(first_horizon, after)
        self.cursor = max(self.cursor, moved)
        self._sent = {i: p for i, p in self._sent.items() if p > self.cursor}
        if len(self._sent) > MAX_BAND:
            self.cursor = max(self._sent.values())
            self._sent.clear()
        return out

    def _unsent(self, rows: list[asyncpg.Record]) -> list[asyncpg.Record]:
        out = []
        for row in rows:
            if row["id"] in self._sent:
                continue
            place = place_of(row)
            if place > self.cursor:
                self._sent[row["id"]] = place
            out.append(row)
        return out


async def follow(
    hub: LiveHub,
    listener: Listener,
    pool: asyncpg.Pool,
    follower: LogFollower,
    *,
    poll_s: float = FALLBACK_POLL_S,
    max_rows: int = MAX_ROWS_PER_WAKE,
) -> AsyncIterator[list[asyncpg.Record]]:
    """New rows for `follower`, one list per look at the database (an empty list when there
    was nothing new: the caller may send a keep-alive). It looks when an announcement it
    wants arrives, and every `poll_s` seconds anyway. Ends when the hub closes."""
    backoff = Backoff(0.5, poll_s)
    while not hub.closing.is_set():
        listener.woken.clear()
        try:
            async with pool.acquire() as conn:
                rows = await follower.read(conn, max_rows)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("live stream cannot read the log; retrying", error=repr(exc))
            yield []
            if await backoff.wait(hub.closing):
                return
            continue
        backoff.reset()
        yield rows
        if len(rows) >= max_rows:
            continue  # more may wait behind a full read
        await hub.until(listener.woken, poll_s)
