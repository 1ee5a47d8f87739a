"""What the analytics count: pure rules, no I/O (docs/ANALYTICS.md says the same in words).

The write path keeps one row of facts per lead and campaign (`Facts`): the first time of
each funnel step, the first message and reply times, message counts. Facts only ever move
by min(), sorted merges and sums over newly stored events, so the order events arrive in
does not matter and a duplicate (never stored twice) changes nothing.

What a lead adds to the counts the API reads (`contributions`) depends only on its facts;
when facts change the write path adds the difference (`delta`), so late events correct
the counts they had already fed.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

# An event's campaign is the first of these metadata keys holding a non-empty string.
CAMPAIGN_KEYS = ("campaign_id", "campaignId")
CARRIER_KEY = "carrier"
NO_CAMPAIGN = ""
# Replies, bookings and opt-outs naming no campaign answer every campaign of their lead.
LEAD_WIDE = frozenset({"INBOUND_REPLY", "BOOKING_CONFIRMED", "OPT_OUT"})
COUNTED = frozenset(
    {
        "CAMPAIGN_ENROLLED",
        "MESSAGE_SENT",
        "MESSAGE_DELIVERED",
        "MESSAGE_FAILED",
        "INBOUND_REPLY",
        "BOOKING_CONFIRMED",
        "CAMPAIGN_COMPLETED",
        "CAMPAIGN_REMOVED",
        "OPT_OUT",
    }
)
# Message positions kept (1st … 5th); replies kept per lead and campaign (the earliest).
MAX_POSITIONS = 5
MAX_REPLIES = 8
# Delay histogram bucket i holds delays d with BOUNDS[i-1] h < d ≤ BOUNDS[i] h; the last
# bucket (len(BOUNDS)) holds longer ones. "Within N hours" is answered for N in BOUNDS.
BOUNDS_HOURS = (1, 2, 4, 8, 12, 24, 48, 72, 168, 336, 720)
FUNNEL = ("enrolled", "sent", "delivered", "replied", "booked", "completed")
UNKNOWN_CARRIER = "unknown"


@dataclass(frozen=True, slots=True)
class AnalyticsEvent:
    """What the analytics need of one stored event."""

    lead_id: uuid.UUID
    campaign: str
    event_type: str
    timestamp: datetime
    source: str
    carrier: str | None


@dataclass(frozen=True, slots=True)
class Facts:
    """One lead in one campaign (`campaign` "" holds its events naming no campaign)."""

    lead_id: uuid.UUID
    campaign: str
    client_id: uuid.UUID | None
    first_at: datetime
    source: str
    carrier: str | None = None
    carrier_at: datetime | None = None
    enrolled_at: datetime | None = None
    delivered_at: datetime | None = None
    booked_at: datetime | None = None
    completed_at: datetime | None = None
    removed_at: datetime | None = None
    opted_out_at: datetime | None = None
    sent_at: tuple[datetime, ...] = ()
    reply_at: tuple[datetime, ...] = ()
    sent_n: int = 0
    delivered_n: int = 0
    failed_n: int = 0


def _string(metadata: Mapping[str, Any] | None, *keys: str) -> str | None:
    for key in keys:
        value = (metadata or {}).get(key)
        if isinstance(value, str) and value:
            return value
    return None


def campaign_of(metadata: Mapping[str, Any] | None) -> str:
    """The campaign an event names in its metadata, "" when none."""
    return _string(metadata, *CAMPAIGN_KEYS) or NO_CAMPAIGN


def carrier_of(metadata: Mapping[str, Any] | None) -> str | None:
    return _string(metadata, CARRIER_KEY)


def analytics_event(
    lead_id: uuid.UUID,
    event_type: str,
    timestamp: datetime,
    source: str,
    metadata: Mapping[str, Any] | None,
) -> AnalyticsEvent | None:
    """The event as the analytics see it, or None when they do not count its type."""
    if event_type not in COUNTED:
        return None
    return AnalyticsEvent(
        lead_id, campaign_of(metadata), event_type, timestamp, source, carrier_of(metadata)
    )


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


def _earliest(a: tuple[datetime, str] | None, b: tuple[datetime, str]) -> tuple[datetime, str]:
    # Ties on time go to the smaller text, so the winner does not depend on arrival order.
    return b if a is None or b < a else a


def _merged(
    times: tuple[datetime, ...], more: Iterable[datetime], keep: int
) -> tuple[datetime, ...]:
    return tuple(sorted((*times, *more))[:keep])


_FIRST_TIME = {
    "CAMPAIGN_ENROLLED": "enrolled_at",
    "MESSAGE_DELIVERED": "delivered_at",
    "BOOKING_CONFIRMED": "booked_at",
    "CAMPAIGN_COMPLETED": "completed_at",
    "CAMPAIGN_REMOVED": "removed_at",
    "OPT_OUT": "opted_out_at",
}
_COUNT = {
    "MESSAGE_SENT": "sent_n",
    "MESSAGE_DELIVERED": "delivered_n",
    "MESSAGE_FAILED": "failed_n",
}


def apply(
    facts: Facts | None, client_id: uuid.UUID | None, events: Iterable[AnalyticsEvent]
) -> Facts:
    """`facts` (None: none yet) after newly stored `events` of its lead and campaign."""
    events = list(events)
    assert events or facts is not None
    first = (facts.first_at, facts.source) if facts else None
    for e in events:
        first = _earliest(first, (e.timestamp, e.source))
    assert first is not None
    seed = facts or Facts(events[0].lead_id, events[0].campaign, client_id, *first)
    changes: dict[str, Any] = {"client_id": client_id, "first_at": first[0], "source": first[1]}
    carrier = (seed.carrier_at, seed.carrier) if seed.carrier_at and seed.carrier else None
    for e in events:
        if e.carrier is not None:
            carrier = _earliest(carrier, (e.timestamp, e.carrier))
        if e.event_type in _FIRST_TIME:
            name = _FIRST_TIME[e.event_type]
            changes[name] = _min(changes.get(name, getattr(seed, name)), e.timestamp)
        if e.event_type in _COUNT:
            name = _COUNT[e.event_type]
            changes[name] = changes.get(name, getattr(seed, name)) + 1
    if carrier is not None:
        changes["carrier_at"], changes["carrier"] = carrier
    sends = [e.timestamp for e in events if e.event_type == "MESSAGE_SENT"]
    replies = [e.timestamp for e in events if e.event_type == "INBOUND_REPLY"]
    changes["sent_at"] = _merged(seed.sent_at, sends, MAX_POSITIONS)
    changes["reply_at"] = _merged(seed.reply_at, replies, MAX_REPLIES)
    return replace(seed, **changes)


def update_lead(
    stored: list[Facts], client_id: uuid.UUID | None, events: Iterable[AnalyticsEvent]
) -> list[Facts]:
    """A lead's facts after newly stored `events` (any campaigns) and its current client."""
    by_campaign: dict[str, list[AnalyticsEvent]] = {}
    for e in events:
        by_campaign.setdefault(e.campaign, []).append(e)
    out = []
    known = {f.campaign: f for f in stored}
    for campaign in sorted(known.keys() | by_campaign.keys()):
        current = known.get(campaign)
        new = by_campaign.get(campaign, [])
        if new:
            out.append(apply(current, client_id, new))
        elif current is not None:
            out.append(replace(current, client_id=client_id))
    return out


def combine(kept: Facts, other: Facts) -> Facts:
    """The facts of one lead and campaign as if `other`'s events were `kept`'s too (two leads
    merged into one): minima, earliest lists and sums combine exactly."""
    first = _earliest((kept.first_at, kept.source), (other.first_at, other.source))
    carriers = [(f.carrier_at, f.carrier) for f in (kept, other) if f.carrier_at and f.carrier]
    carrier = min(carriers) if carriers else (None, None)
    return replace(
        kept,
        first_at=first[0],
        source=first[1],
        carrier_at=carrier[0],
        carrier=carrier[1],
        **{name: _min(getattr(kept, name), getattr(other, name)) for name in _FIRST_TIME.values()},
        **{name: getattr(kept, name) + getattr(other, name) for name in _COUNT.values()},
        sent_at=_merged(kept.sent_at, other.sent_at, MAX_POSITIONS),
        reply_at=_merged(kept.reply_at, other.reply_at, MAX_REPLIES),
    )


def merge_leads(survivor: uuid.UUID, kept: list[Facts], absorbed: list[Facts]) -> list[Facts]:
    """The surviving lead's facts once the absorbed lead's events are its own (under the
    survivor's client when it has facts, else the absorbed lead's)."""
    out = {f.campaign: f for f in kept}
    client = kept[0].client_id if kept else absorbed[0].client_id if absorbed else None
    for f in absorbed:
        moved = replace(f, lead_id=survivor, client_id=client)
        out[f.campaign] = combine(out[f.campaign], moved) if f.campaign in out else moved
    return [out[c] for c in sorted(out)]


# -- what facts add to the counts ------------------------------------------------------------


# Each count is kept at four grains, so a read adds up only the cohorts it filters on: the
# client and the source dimensions are kept (bit set) or summed over (client NULL, source "").
CLIENT_KEPT = 1
SOURCE_KEPT = 2
GRAINS = (0, CLIENT_KEPT, SOURCE_KEPT, CLIENT_KEPT | SOURCE_KEPT)
FULL_GRAIN = CLIENT_KEPT | SOURCE_KEPT


def grain_for(client: bool, source: bool) -> int:
    """The grain that keeps just the dimensions a read filters on."""
    return (CLIENT_KEPT if client else 0) | (SOURCE_KEPT if source else 0)


@dataclass(frozen=True, slots=True)
class CountKey:
    """One count: a grain, a cohort (client, campaign, week, source) and what it counts."""

    grain: int
    client_id: uuid.UUID | None
    campaign: str
    week: date
    source: str
    metric: str
    dim: str
    bucket: int

    def order(self) -> tuple[int, str, str, date, str, str, str, int]:
        """One total order over keys, for taking row locks in it."""
        return (
            self.grain,
            str(self.client_id or ""),
            self.campaign,
            self.week,
            self.source,
            self.metric,
            self.dim,
            self.bucket,
        )


def week_of(value: datetime) -> date:
    """The Monday (UTC) starting `value`'s week."""
    day = value.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def delay_bucket(delay: timedelta) -> int:
    """The histogram bucket of a delay: how many bounds it exceeds."""
    hours = delay.total_seconds() / 3600
    return sum(1 for bound in BOUNDS_HOURS if hours > bound)


def effective(facts: Facts, lead_wide: Facts | None) -> Facts:
    """A campaign's facts with the lead's replies, bookings and opt-outs naming no campaign."""
    if lead_wide is None or facts.campaign == NO_CAMPAIGN:
        return facts
    return replace(
        facts,
        reply_at=_merged(facts.reply_at, lead_wide.reply_at, MAX_REPLIES),
        booked_at=_min(facts.booked_at, lead_wide.booked_at),
        opted_out_at=_min(facts.opted_out_at, lead_wide.opted_out_at),
    )


def first_reply_after(facts: Facts, since: datetime) -> datetime | None:
    return next((r for r in facts.reply_at if r >= since), None)


def _pair(f: Facts) -> Counter[tuple[str, str, int]]:
    out: Counter[tuple[str, str, int]] = Counter()
    carrier = f.carrier or UNKNOWN_CARRIER
    for metric, n in (("msg_sent", f.sent_n), ("msg_delivered", f.delivered_n)):
        if n:
            out[(metric, carrier, 0)] += n
    if f.failed_n:
        out[("msg_failed", carrier, 0)] += f.failed_n
    replied: datetime | None = None
    if f.sent_at:
        out[("sent", "any", 0)] += 1
        replied = first_reply_after(f, f.sent_at[0])
        if replied is not None:
            previous = max(s for s in f.sent_at if s <= replied)
            out[("reply", "any", delay_bucket(replied - previous))] += 1
        for position, sent in enumerate(f.sent_at, start=1):
            out[("sent", str(position), 0)] += 1
            answer = first_reply_after(f, sent)
            if answer is not None:
                out[("reply", str(position), delay_bucket(answer - sent))] += 1
        if f.opted_out_at is not None:
            out[("opted_out", "", 0)] += 1
    if replied is not None and f.booked_at is not None and f.booked_at >= replied:
        out[("booking", "", delay_bucket(f.booked_at - replied))] += 1
    steps = (
        f.enrolled_at is not None,
        bool(f.sent_at),
        f.delivered_at is not None,
        replied is not None,
        f.booked_at is not None,
        f.completed_at is not None,
    )
    reached = 0
    while reached < len(steps) and steps[reached]:
        out[("funnel", FUNNEL[reached], reached)] += 1
        reached += 1
    if 0 < reached < len(steps):
        reason = (
            "opted_out"
            if f.opted_out_at is not None
            else "removed"
            if f.removed_at is not None
            else "silent"
        )
        out[("left", reason, reached - 1)] += 1
    return out


def cohort_time(f: Facts) -> datetime:
    """When a lead's campaign cohort starts: its first message, else enrolment, else first event."""
    return f.sent_at[0] if f.sent_at else f.enrolled_at or f.first_at


def _counts(raw: Facts, lead_wide: Facts | None) -> Counter[CountKey]:
    """What one lead's facts in one campaign add to the counts, at every grain."""
    f = effective(raw, lead_wide)
    week = week_of(cohort_time(f))
    out: Counter[CountKey] = Counter()
    for (metric, dim, bucket), n in _pair(f).items():
        for grain in GRAINS:
            client = f.client_id if grain & CLIENT_KEPT else None
            source = f.source if grain & SOURCE_KEPT else ""
            out[CountKey(grain, client, f.campaign, week, source, metric, dim, bucket)] += n
    return out


def _shared(lead_wide: Facts | None) -> tuple[Any, ...] | None:
    """What a lead's campaigns read of its lead-wide facts (see `effective`)."""
    if lead_wide is None:
        return None
    return (lead_wide.reply_at, lead_wide.booked_at, lead_wide.opted_out_at)


def needs_every_campaign(event: AnalyticsEvent) -> bool:
    """The event may change what every campaign of its lead reads (see `effective`)."""
    return event.campaign == NO_CAMPAIGN and event.event_type in LEAD_WIDE


def _lead_wide(facts: Iterable[Facts]) -> Facts | None:
    return next((f for f in facts if f.campaign == NO_CAMPAIGN), None)


def contributions(lead_facts: Iterable[Facts]) -> Counter[CountKey]:
    """Everything one lead's facts add to the counts."""
    facts = list(lead_facts)
    lead_wide = _lead_wide(facts)
    out: Counter[CountKey] = Counter()
    for f in facts:
        out.update(_counts(f, lead_wide))
    return out


def delta(before: Iterable[Facts], after: Iterable[Facts]) -> dict[CountKey, int]:
    """What to add to the counts when a lead's facts change from `before` to `after`.

    Only the campaigns whose facts changed are recounted, unless the lead-wide facts (its
    events naming no campaign) changed, which every campaign of the lead reads.
    """
    old = {f.campaign: f for f in before}
    new = {f.campaign: f for f in after}
    wide_old, wide_new = old.get(NO_CAMPAIGN), new.get(NO_CAMPAIGN)
    every = _shared(wide_old) != _shared(wide_new)
    change: Counter[CountKey] = Counter()
    for campaign in old.keys() | new.keys():
        if not every and old.get(campaign) == new.get(campaign):
            continue
        if campaign in new:
            change.update(_counts(new[campaign], wide_new))
        if campaign in old:
            change.subtract(_counts(old[campaign], wide_old))
    return {key: n for key, n in change.items() if n}
