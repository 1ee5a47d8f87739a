"""What the ingest stored, announced to the API on a Redis channel after each batch."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from activitylog.contract.identity import AcceptedEvent
from activitylog.domain.dead_letters import DeadLetter
from activitylog.runtime.logs import get_logger
from activitylog.storage import live as live_sql
from activitylog.use_cases.store_batch import StoreResult

log = get_logger("activitylog.live")

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
