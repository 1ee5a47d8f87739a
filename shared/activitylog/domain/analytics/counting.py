"""What a lead's facts add to the counts the API reads: pure, no I/O.

A lead's contribution (`contributions`) depends only on its facts; when facts change the
keeper adds the difference (`delta`), so late events correct the counts they had fed.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from activitylog.domain.analytics.rules import (
    BOUNDS_HOURS,
    FUNNEL,
    LEAD_WIDE,
    MAX_REPLIES,
    NO_CAMPAIGN,
    UNKNOWN_CARRIER,
    AnalyticsEvent,
    Facts,
    merged,
    min_time,
)

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
        reply_at=merged(facts.reply_at, lead_wide.reply_at, MAX_REPLIES),
        booked_at=min_time(facts.booked_at, lead_wide.booked_at),
        opted_out_at=min_time(facts.opted_out_at, lead_wide.opted_out_at),
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


Cohort = tuple[uuid.UUID | None, str, date, str]  # client, campaign, week, source


def _cohort(f: Facts) -> Cohort:
    return (f.client_id, f.campaign, week_of(cohort_time(f)), f.source)


def _keyed(cohort: Cohort, pairs: Counter[tuple[str, str, int]]) -> Counter[CountKey]:
    """`pairs` (metric, dim, bucket → n) of one cohort as count keys, at every grain."""
    client_id, campaign, week, source = cohort
    out: Counter[CountKey] = Counter()
    for (metric, dim, bucket), n in pairs.items():
        if not n:
            continue
        for grain in GRAINS:
            client = client_id if grain & CLIENT_KEPT else None
            kept_source = source if grain & SOURCE_KEPT else ""
            out[CountKey(grain, client, campaign, week, kept_source, metric, dim, bucket)] += n
    return out


def _counts(raw: Facts, lead_wide: Facts | None) -> Counter[CountKey]:
    """What one lead's facts in one campaign add to the counts, at every grain."""
    f = effective(raw, lead_wide)
    return _keyed(_cohort(f), _pair(f))


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
        after = effective(new[campaign], wide_new) if campaign in new else None
        before = effective(old[campaign], wide_old) if campaign in old else None
        if after is not None and before is not None and _cohort(after) == _cohort(before):
            # The usual change (one more fact in the same cohort): the difference is taken
            # before it is spread over the grains, so only what changed becomes keys (the
            # fold spent most of its time building keys that cancelled out).
            pairs = _pair(after)
            pairs.subtract(_pair(before))
            change.update(_keyed(_cohort(after), pairs))
            continue
        if after is not None:
            change.update(_keyed(_cohort(after), _pair(after)))
        if before is not None:
            change.subtract(_keyed(_cohort(before), _pair(before)))
    return {key: n for key, n in change.items() if n}
