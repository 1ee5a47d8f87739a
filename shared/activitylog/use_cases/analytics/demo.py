"""A synthetic history for a first look: a few clients, campaigns and thousands of leads over
90 days, with replies, bookings, failures, opt-outs and a carrier mix. Pure: events as dicts.

Demo leads have Airtable ids starting `recDEMO` and every demo event the source
`system:demo`, so the history is easy to tell apart and to remove.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

DEMO_SOURCE = "system:demo"
DEMO_LEAD_PREFIX = "recDEMO"
_NAMESPACE = uuid.UUID("5f0c2a52-6d1e-4f8e-9d3b-0d3a1f5e7a15")
CLIENTS = {
    "Acme Roofing (demo)": ("spring-roofing", "storm-repair"),
    "Sunny Solar (demo)": ("solar-savings", "battery-upsell"),
    "Cool Air HVAC (demo)": ("winter-hvac",),
}
# Carrier: share of leads, chance a message fails.
CARRIERS = {
    "verizon": (0.4, 0.02),
    "att": (0.3, 0.03),
    "tmobile": (0.25, 0.09),
    "mint": (0.05, 0.2),
}
FIRST = ["Jane", "Bob", "Ana", "Luis", "Mei", "Omar", "Sara", "Tom", "Ivy", "Raj", "Eva", "Kim"]
LAST = ["Doe", "Stone", "Lopez", "Chen", "Khan", "Novak", "Smith", "Ito", "Berg", "Rossi"]
MESSAGE_GAPS_H = (0.0, 48.0, 120.0)  # the sequence: three messages, two and five days apart


def client_id(name: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, name)


@dataclass(frozen=True, slots=True)
class DemoLead:
    airtable_id: str
    client_id: uuid.UUID
    first_name: str
    last_name: str
    phone: str


def leads(count: int, seed: int = 15) -> list[DemoLead]:
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    names = list(CLIENTS)
    return [
        DemoLead(
            f"{DEMO_LEAD_PREFIX}{n:07d}",
            client_id(names[n % len(names)]),
            rng.choice(FIRST),
            rng.choice(LAST),
            f"+1555{n:07d}",
        )
        for n in range(count)
    ]


def _event(
    lead: DemoLead, n: int, event_type: str, at: datetime, description: str, **meta: Any
) -> dict[str, Any]:
    return {
        "eventId": str(uuid.uuid5(_NAMESPACE, f"{lead.airtable_id}/{n}")),
        "eventType": event_type,
        "leadAirtableId": lead.airtable_id,
        "clientId": str(lead.client_id),
        "description": description,
        "metadata": {"demo": True, **meta},
        "source": DEMO_SOURCE,
        "timestamp": at.isoformat(),
    }


def history(lead: DemoLead, n: int, now: datetime, days: int = 90) -> Iterator[dict[str, Any]]:
    """One lead's events up to `now` (deterministic in `n`)."""
    rng = random.Random(n)  # noqa: S311
    names = list(CLIENTS)
    campaign = rng.choice(CLIENTS[names[n % len(names)]])
    carrier = rng.choices(list(CARRIERS), [share for share, _ in CARRIERS.values()])[0]
    fail_rate = CARRIERS[carrier][1]
    start = now - timedelta(days=days) + timedelta(seconds=rng.random() * days * 86_400)
    eid = iter(range(100))
    common = {"campaign_id": campaign}
    out = [_event(lead, next(eid), "CAMPAIGN_ENROLLED", start, f"Enrolled in {campaign}", **common)]
    replied: datetime | None = None
    left = False
    for position, gap in enumerate(MESSAGE_GAPS_H, start=1):
        sent = start + timedelta(hours=gap, minutes=rng.randint(1, 30))
        meta = {**common, "carrier": carrier, "position": position}
        out.append(
            _event(lead, next(eid), "MESSAGE_SENT", sent, f"Message {position} sent", **meta)
        )
        if rng.random() < fail_rate:
            at = sent + timedelta(seconds=rng.randint(5, 120))
            out.append(_event(lead, next(eid), "MESSAGE_FAILED", at, "Carrier rejected", **meta))
            continue
        at = sent + timedelta(seconds=rng.randint(2, 60))
        out.append(_event(lead, next(eid), "MESSAGE_DELIVERED", at, "Delivered", **meta))
        if rng.random() < 0.03:
            at = sent + timedelta(hours=rng.uniform(0.1, 6))
            out.append(_event(lead, next(eid), "OPT_OUT", at, "Replied STOP", **common))
            left = True
            break
        if rng.random() < 0.22 + 0.04 * position:
            replied = sent + timedelta(hours=rng.lognormvariate(1.2, 1.1))
            text = "Inbound reply"
            out.append(_event(lead, next(eid), "INBOUND_REPLY", replied, text, **common))
            break
    if replied is not None and rng.random() < 0.45:
        booked = replied + timedelta(hours=rng.lognormvariate(2.0, 1.0))
        out.append(_event(lead, next(eid), "BOOKING_CONFIRMED", booked, "Booked a visit", **common))
        done = booked + timedelta(days=1)
        out.append(_event(lead, next(eid), "CAMPAIGN_COMPLETED", done, "Completed", **common))
    elif not left and rng.random() < 0.05:
        gone = start + timedelta(days=rng.uniform(1, 8))
        out.append(_event(lead, next(eid), "CAMPAIGN_REMOVED", gone, "Removed by agent", **common))
    yield from (e for e in out if datetime.fromisoformat(e["timestamp"]) <= now)
