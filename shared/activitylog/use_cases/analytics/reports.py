"""The four analytics answers (replies, funnel, delivery, timing) added up from the counts.

Each answer reads only `analytics_counts` (bounded by campaigns × weeks, not by events);
docs/ANALYTICS.md defines every figure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from activitylog.contract.times import iso
from activitylog.domain.analytics.answers import (
    DeliveryAnswer,
    DeliveryRow,
    Distribution,
    FunnelAnswer,
    FunnelStep,
    RepliesAnswer,
    ReplyRow,
    TimingAnswer,
)
from activitylog.domain.analytics.cohorts import window_closes_at
from activitylog.domain.analytics.counting import week_of
from activitylog.domain.analytics.rules import BOUNDS_HOURS, FUNNEL
from activitylog.storage import analytics
from activitylog.storage.analytics import CountFilter

DEFAULT_HOURS = 24
LEFT_REASONS = ("removed", "opted_out", "silent")


def weeks(since: datetime | None, before: datetime | None) -> tuple[date | None, date | None]:
    """[since, before) widened to whole UTC weeks (Monday to Monday), as cohorts are kept."""
    first = week_of(since) if since else None
    last = week_of(before - timedelta(microseconds=1)) + timedelta(days=7) if before else None
    return first, last


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _within(buckets: dict[int, int], hours: int) -> int:
    limit = BOUNDS_HOURS.index(hours)
    return sum(n for bucket, n in buckets.items() if bucket <= limit)


def _reply_row(sent: int, buckets: dict[int, int], hours: int) -> ReplyRow:
    replied = _within(buckets, hours)
    return {
        "sent": sent,
        "replied": replied,
        "rate": rate(replied, sent),
        "repliedAtAll": sum(buckets.values()),
    }


def _grouped(rows: Iterable[asyncpg.Record], key: str) -> dict[Any, dict[str, Any]]:
    """Rows (metric, key, [dim], bucket, n) as key → {"sent": n, "buckets": {bucket: n}}."""
    out: dict[Any, dict[str, Any]] = defaultdict(lambda: {"sent": 0, "buckets": defaultdict(int)})
    for r in rows:
        entry = out[r[key]]
        if r["metric"] == "sent":
            entry["sent"] += r["n"]
        else:
            entry["buckets"][r["bucket"]] += r["n"]
    return out


async def replies(conn: asyncpg.Connection, f: CountFilter, hours: int) -> RepliesAnswer:
    """Reply within `hours` of a message: overall, per position, per campaign, per week."""
    now = datetime.now(UTC)
    metrics = ("sent", "reply")
    by_dim = _grouped(await analytics.sums(conn, f, metrics, ("dim", "bucket")), "dim")
    per_campaign = await analytics.sums(conn, f, metrics, ("campaign", "bucket"), dim="any")
    per_week = await analytics.sums(conn, f, metrics, ("week", "bucket"), dim="any")
    by_campaign = _grouped(per_campaign, "campaign")
    by_week = _grouped(per_week, "week")
    overall = by_dim.get("any", {"sent": 0, "buckets": {}})
    positions = sorted((d for d in by_dim if d != "any"), key=int)
    return {
        "hours": hours,
        "overall": _reply_row(overall["sent"], overall["buckets"], hours),
        "byPosition": [
            {"position": int(p), **_reply_row(by_dim[p]["sent"], by_dim[p]["buckets"], hours)}
            for p in positions
        ],
        "byCampaign": [
            {"campaign": c, **_reply_row(v["sent"], v["buckets"], hours)}
            for c, v in sorted(by_campaign.items())
        ],
        # A week whose reply window has not closed is open: a low rate there is "not yet".
        "byWeek": [
            {
                "week": w.isoformat(),
                **_reply_row(v["sent"], v["buckets"], hours),
                "open": now < (closes := window_closes_at(w, hours)),
                "windowClosesAt": iso(closes) or "",
            }
            for w, v in sorted(by_week.items())
        ],
    }


async def weekly_by_campaign(
    conn: asyncpg.Connection, f: CountFilter, hours: int, busiest: int
) -> dict[str, dict[date, ReplyRow]]:
    """Reply within `hours` per week for each of the `busiest` campaigns (by messages sent,
    ties by name), in one read."""
    metrics = ("sent", "reply")
    rows = await analytics.sums(
        conn, f, metrics, ("campaign", "week", "bucket"), dim="any", busiest=busiest
    )
    by_campaign: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for r in rows:
        by_campaign[r["campaign"]].append(r)
    return {
        campaign: {
            week: _reply_row(v["sent"], v["buckets"], hours)
            for week, v in _grouped(weekly, "week").items()
        }
        for campaign, weekly in by_campaign.items()
    }


async def funnel(conn: asyncpg.Connection, f: CountFilter) -> FunnelAnswer:
    """Leads at each step, conversion from the step before, and where the leavers went."""
    rows = await analytics.sums(conn, f, ("funnel", "left"), ("dim", "bucket"))
    reached = {r["dim"]: int(r["n"]) for r in rows if r["metric"] == "funnel"}
    left: dict[int, dict[str, int]] = defaultdict(dict)
    for r in rows:
        if r["metric"] == "left":
            left[r["bucket"]][r["dim"]] = int(r["n"])
    steps: list[FunnelStep] = []
    first = reached.get(FUNNEL[0], 0)
    for i, step in enumerate(FUNNEL):
        count = reached.get(step, 0)
        previous = reached.get(FUNNEL[i - 1], 0) if i else count
        gone = left.get(i - 1, {}) if i else {}
        steps.append(
            {
                "step": step,
                "leads": count,
                "conversion": rate(count, previous) if i else rate(count, count),
                "ofEnrolled": rate(count, first),
                "dropOff": previous - count if i else 0,
                "left": {reason: gone.get(reason, 0) for reason in LEFT_REASONS},
            }
        )
    return {"steps": steps}


def _delivery_row(values: dict[str, int]) -> DeliveryRow:
    sent, delivered, failed = (values.get(m, 0) for m in ("sent", "delivered", "failed"))
    return {
        "sent": sent,
        "delivered": delivered,
        "failed": failed,
        "deliveryRate": rate(delivered, sent),
        "failureRate": rate(failed, sent),
    }


async def delivery(conn: asyncpg.Connection, f: CountFilter) -> DeliveryAnswer:
    """Delivery and failure rates, per carrier and per campaign; opt-out rate of messaged leads."""
    metrics = ("msg_sent", "msg_delivered", "msg_failed")
    by_carrier: dict[str, dict[str, int]] = defaultdict(dict)
    for r in await analytics.sums(conn, f, metrics, ("dim",)):
        by_carrier[r["dim"]][r["metric"].removeprefix("msg_")] = int(r["n"])
    by_campaign: dict[str, dict[str, int]] = defaultdict(dict)
    for r in await analytics.sums(conn, f, metrics, ("campaign",)):
        by_campaign[r["campaign"]][r["metric"].removeprefix("msg_")] = int(r["n"])
    totals: dict[str, int] = defaultdict(int)
    for values in by_carrier.values():
        for metric, n in values.items():
            totals[metric] += n
    leads = {
        r["metric"]: int(r["n"])
        for r in await analytics.sums(conn, f, ("sent", "opted_out"), ("dim",))
        if r["dim"] in ("any", "")
    }
    messaged = leads.get("sent", 0)
    return {
        "overall": {
            **_delivery_row(totals),
            "leadsMessaged": messaged,
            "optedOut": leads.get("opted_out", 0),
            "optOutRate": rate(leads.get("opted_out", 0), messaged),
        },
        "byCarrier": [{"carrier": c, **_delivery_row(v)} for c, v in sorted(by_carrier.items())],
        "byCampaign": [{"campaign": c, **_delivery_row(v)} for c, v in sorted(by_campaign.items())],
    }


def distribution(buckets: dict[int, int]) -> Distribution:
    """Count, median and p90 (as the upper bound of the bucket holding them) and histogram."""
    total = sum(buckets.values())

    def quantile(q: float) -> int | None:
        if not total:
            return None
        running = 0
        for bucket in range(len(BOUNDS_HOURS) + 1):
            running += buckets.get(bucket, 0)
            if running >= q * total:
                return BOUNDS_HOURS[bucket] if bucket < len(BOUNDS_HOURS) else None
        return None

    return {
        "count": total,
        "medianHours": quantile(0.5),
        "p90Hours": quantile(0.9),
        "histogram": [
            {
                "upToHours": BOUNDS_HOURS[b] if b < len(BOUNDS_HOURS) else None,
                "n": buckets.get(b, 0),
            }
            for b in range(len(BOUNDS_HOURS) + 1)
        ],
    }


async def timing(conn: asyncpg.Connection, f: CountFilter) -> TimingAnswer:
    """Time to first reply (from the message before it) and to booking (from that reply)."""
    rows = await analytics.sums(conn, f, ("reply", "booking"), ("dim", "bucket"))
    reply = {r["bucket"]: int(r["n"]) for r in rows if r["metric"] == "reply" and r["dim"] == "any"}
    booking = {r["bucket"]: int(r["n"]) for r in rows if r["metric"] == "booking"}
    return {"timeToReply": distribution(reply), "timeToBooking": distribution(booking)}
