"""What the analytics count: pure rules, no I/O (docs/ANALYTICS.md says the same in words).

The analytics keep one row of facts per lead and campaign (`Facts`): the first time of
each funnel step, the first message and reply times, message counts. Facts only ever move
by min(), sorted merges and sums over newly stored events, so the order events arrive in
does not matter and a duplicate (never stored twice) changes nothing.

What the facts add to the counts is `counting`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

# An event's campaign is the first of these metadata keys holding a non-empty string: the
# tracking plan's `campaignId`, and `campaign_id` as events stored before the plan spell it.
CAMPAIGN_KEYS = ("campaignId", "campaign_id")
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


def min_time(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


def _earliest(a: tuple[datetime, str] | None, b: tuple[datetime, str]) -> tuple[datetime, str]:
    # Ties on time go to the smaller text, so the winner does not depend on arrival order.
    return b if a is None or b < a else a


def merged(
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
            changes[name] = min_time(changes.get(name, getattr(seed, name)), e.timestamp)
        if e.event_type in _COUNT:
            name = _COUNT[e.event_type]
            changes[name] = changes.get(name, getattr(seed, name)) + 1
    if carrier is not None:
        changes["carrier_at"], changes["carrier"] = carrier
    sends = [e.timestamp for e in events if e.event_type == "MESSAGE_SENT"]
    replies = [e.timestamp for e in events if e.event_type == "INBOUND_REPLY"]
    changes["sent_at"] = merged(seed.sent_at, sends, MAX_POSITIONS)
    changes["reply_at"] = merged(seed.reply_at, replies, MAX_REPLIES)
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
        **{
            name: min_time(getattr(kept, name), getattr(other, name))
            for name in _FIRST_TIME.values()
        },
        **{name: getattr(kept, name) + getattr(other, name) for name in _COUNT.values()},
        sent_at=merged(kept.sent_at, other.sent_at, MAX_POSITIONS),
        reply_at=merged(kept.reply_at, other.reply_at, MAX_REPLIES),
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
