"""Which counters exist and what one stored event adds to them: pure rules, no I/O.

Counting rows of the log costs more as traffic grows; these counters cost what the number
of buckets in a window costs. Each rollup counts stored events by one time basis at one
grain, over a few dimensions chosen by what reads them:

- by arrival (when the row was stored), per minute and per hour, all events together
  (category `*`): health figures, a row per minute or hour however diverse the traffic;
- by arrival, per minute and per hour, by category and source: the per-source rates and
  silences the watchers build on;
- by event time, per hour, by type, category and client: the dashboard's charts, category
  totals and the count tabs, a portal key's (one client) included.

The counters follow the log (activitylog.domain.followers): the retry service adds up the
rows stored since it last looked, by these rules spelt in SQL (storage.event_counts), and
readers add the rows it has not taken in yet, so a figure is exact the moment a batch
commits.

Event-time minutes are not kept: nothing reads them, and over a long history they would
hold as many rows as the log itself. Old hours roll up into days (`compaction_cutoffs`).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Basis(StrEnum):
    ARRIVAL = "arrival"  # when the row was stored
    EVENT = "event"  # the event's own timestamp


class Grain(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


# The category of the all-events rollups: every category together.
ALL = "*"

_STEP = {Grain.MINUTE: timedelta(minutes=1), Grain.HOUR: timedelta(hours=1)}

# Minutes of arrival are kept this long (the hours hold them too); event-time hours this
# long before they roll up into days. The dashboard's hourly chart spans 48 hours.
KEEP_MINUTES = timedelta(days=2)
KEEP_HOURS = timedelta(days=3)
# Arrival hours by source stay longer: rate-drop detection compares an hour with the same
# hour in each of the last four weeks (activitylog.domain.watch.rates).
KEEP_ARRIVAL_HOURS = timedelta(days=29)
# Event-time days this long before they roll up into months: the dashboard's daily chart
# spans 30 days, and a whole-history total (the browser's, unfiltered) then sums a row per
# month, not one per day (350,000 day rows, 85 ms, at 10 M events over 24 months).
KEEP_DAYS = timedelta(days=45)


@dataclass(frozen=True, slots=True)
class Rollup:
    """One kind of counter: events by `basis` per `grain` bucket, keeping the dimensions in
    `kept` (of category, event_type, source, client_id); category `ALL` when not kept."""

    basis: Basis
    grain: Grain
    kept: tuple[str, ...]


DIMENSIONS = ("category", "event_type", "source", "client_id")

ROLLUPS = (
    Rollup(Basis.ARRIVAL, Grain.MINUTE, ()),
    Rollup(Basis.ARRIVAL, Grain.HOUR, ()),
    Rollup(Basis.ARRIVAL, Grain.MINUTE, ("category", "source")),
    Rollup(Basis.ARRIVAL, Grain.HOUR, ("category", "source")),
    Rollup(Basis.EVENT, Grain.HOUR, ("category", "event_type", "client_id")),
)


@dataclass(frozen=True, slots=True)
class CounterKey:
    """One counter: a bucket of one rollup and the dimension values it keeps (None: not kept)."""

    basis: Basis
    grain: Grain
    bucket: datetime
    category: str
    event_type: str | None
    source: str | None
    client_id: uuid.UUID | None

    def order(self) -> tuple[str, str, datetime, str, str, str, str]:
        """One total order over keys (None sorts first), for taking row locks in it."""
        return (
            self.basis.value,
            self.grain.value,
            self.bucket,
            self.category,
            self.event_type or "",
            self.source or "",
            str(self.client_id or ""),
        )


@dataclass(frozen=True, slots=True)
class CountedEvent:
    """What the counters need of one stored event."""

    event_type: str
    category: str
    source: str
    client_id: uuid.UUID | None
    timestamp: datetime
    arrived_at: datetime


def truncate(value: datetime, grain: Grain) -> datetime:
    """The start of `value`'s bucket, in UTC."""
    utc = value.astimezone(UTC)
    if grain is Grain.MINUTE:
        return utc.replace(second=0, microsecond=0)
    if grain is Grain.HOUR:
        return utc.replace(minute=0, second=0, microsecond=0)
    if grain is Grain.MONTH:
        return utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


def keys_of(event: CountedEvent) -> tuple[CounterKey, ...]:
    """Every counter one stored event adds 1 to: one per rollup."""
    values = {
        "category": event.category,
        "event_type": event.event_type,
        "source": event.source,
        "client_id": event.client_id,
    }
    keys = []
    for rollup in ROLLUPS:
        at = event.arrived_at if rollup.basis is Basis.ARRIVAL else event.timestamp
        kept = {d: values[d] if d in rollup.kept else None for d in DIMENSIONS}
        keys.append(
            CounterKey(
                rollup.basis,
                rollup.grain,
                truncate(at, rollup.grain),
                kept["category"] or ALL,
                kept["event_type"],
                kept["source"],
                kept["client_id"],
            )
        )
    return tuple(keys)


def increments(events: Iterable[CountedEvent]) -> dict[CounterKey, int]:
    """What a batch of newly stored events adds, one entry per counter (a batch's sum)."""
    counts: Counter[CounterKey] = Counter()
    for event in events:
        counts.update(keys_of(event))
    return dict(counts)


def merge(*parts: dict[CounterKey, int]) -> dict[CounterKey, int]:
    """Several sets of increments as one (a counter named twice adds up)."""
    total: Counter[CounterKey] = Counter()
    for part in parts:
        total.update(part)
    return {key: n for key, n in total.items() if n}


def client_moves(
    moved: Iterable[tuple[datetime, str, str, uuid.UUID | None, uuid.UUID | None]],
) -> dict[CounterKey, int]:
    """Events that changed client (time, type, category, old, new): −1 under the old client
    and +1 under the new, by event time; arrival counters keep no client."""
    counts: Counter[CounterKey] = Counter()
    for timestamp, event_type, category, old, new in moved:
        bucket = truncate(timestamp, Grain.HOUR)
        for client, delta in ((old, -1), (new, 1)):
            key = CounterKey(Basis.EVENT, Grain.HOUR, bucket, category, event_type, None, client)
            counts[key] += delta
    return {key: n for key, n in counts.items() if n}


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Arrival minutes before `minutes_before` are dropped (their hours stay); event hours
    before `hours_before` and arrival hours before `arrival_hours_before` roll up into days,
    and event days before `days_before` into months."""

    minutes_before: datetime
    hours_before: datetime
    arrival_hours_before: datetime
    days_before: datetime


def compaction_cutoffs(now: datetime) -> Cutoffs:
    """Where compaction cuts at `now`: always on bucket boundaries, so no bucket is split."""
    return Cutoffs(
        truncate(now - KEEP_MINUTES, Grain.HOUR),
        truncate(now - KEEP_HOURS, Grain.DAY),
        truncate(now - KEEP_ARRIVAL_HOURS, Grain.DAY),
        truncate(now - KEEP_DAYS, Grain.MONTH),
    )


def minute_window(now: datetime, minutes: int) -> tuple[datetime, datetime]:
    """[since, until) covering the last `minutes` whole-or-current minutes up to `now`."""
    until = truncate(now, Grain.MINUTE) + _STEP[Grain.MINUTE]
    return until - minutes * _STEP[Grain.MINUTE], until


def hour_window(now: datetime, hours: int) -> tuple[datetime, datetime]:
    """[since, until) covering the last `hours` clock hours, the current one included."""
    until = truncate(now, Grain.HOUR) + _STEP[Grain.HOUR]
    return until - hours * _STEP[Grain.HOUR], until
