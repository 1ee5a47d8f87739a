"""Hand-written histories the analytics tests share: one lead's events with known answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent

History = list[tuple[str, float, str | None, str | None]]

# A Monday, so the cohort week is this day.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLIENT = uuid.UUID(int=0xA1)
CAMPAIGN = "spring"
SOURCE = "n8n:wf-spring"


def at(hours: float, seconds: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, seconds=seconds)


# (type, hours after T0, campaign or None, carrier or None). Three messages; a reply before
# any send; the first reply after a send comes exactly 24 h after the 2nd message; a
# booking 3 h after that reply; nothing after the 3rd message.
THREE_MESSAGES = [
    ("CAMPAIGN_ENROLLED", 0.0, CAMPAIGN, None),
    ("INBOUND_REPLY", 0.5, None, None),
    ("MESSAGE_SENT", 1.0, CAMPAIGN, "verizon"),
    ("MESSAGE_DELIVERED", 1.1, CAMPAIGN, "verizon"),
    ("MESSAGE_SENT", 25.0, CAMPAIGN, "verizon"),
    ("INBOUND_REPLY", 49.0, None, None),
    ("BOOKING_CONFIRMED", 52.0, None, None),
    ("MESSAGE_SENT", 73.0, CAMPAIGN, "verizon"),
]

# What THREE_MESSAGES adds up to, computed by hand: (metric, dim, bucket) → n.
THREE_MESSAGES_COUNTS = {
    ("msg_sent", "verizon", 0): 3,
    ("msg_delivered", "verizon", 0): 1,
    ("sent", "any", 0): 1,
    # First reply after the first send: 49 h, its latest earlier send 25 h → 24 h, bucket ≤24 h.
    ("reply", "any", 5): 1,
    ("sent", "1", 0): 1,
    ("reply", "1", 6): 1,  # 48 h after the 1st message: bucket ≤48 h
    ("sent", "2", 0): 1,
    ("reply", "2", 5): 1,  # exactly 24 h: within 24 h
    ("sent", "3", 0): 1,  # no reply after the 3rd
    ("booking", "", 2): 1,  # 3 h after the first reply: bucket ≤4 h
    ("funnel", "enrolled", 0): 1,
    ("funnel", "sent", 1): 1,
    ("funnel", "delivered", 2): 1,
    ("funnel", "replied", 3): 1,
    ("funnel", "booked", 4): 1,
    ("left", "silent", 4): 1,  # booked, never completed, neither removed nor opted out
}

# A reply one second past 24 h, then an opt-out: bucket ≤48 h, left after replying.
LATE_REPLY = [
    ("CAMPAIGN_ENROLLED", 0.0, CAMPAIGN, None),
    ("MESSAGE_SENT", 1.0, CAMPAIGN, None),
    ("INBOUND_REPLY", 25.0 + 1 / 3600, CAMPAIGN, None),
    ("OPT_OUT", 26.0, None, None),
    ("MESSAGE_FAILED", 27.0, CAMPAIGN, "tmobile"),
]
LATE_REPLY_COUNTS = {
    # A lead's carrier in a campaign is the first one its events name, for all its messages.
    ("msg_sent", "tmobile", 0): 1,
    ("msg_failed", "tmobile", 0): 1,
    ("sent", "any", 0): 1,
    ("reply", "any", 6): 1,
    ("sent", "1", 0): 1,
    ("reply", "1", 6): 1,
    ("opted_out", "", 0): 1,
    ("funnel", "enrolled", 0): 1,
    ("funnel", "sent", 1): 1,
    ("left", "opted_out", 1): 1,  # never delivered
}


def accepted(
    lead: str, history: History, *, client: uuid.UUID = CLIENT, first: int = 0
) -> list[AcceptedEvent]:
    """`history` as accepted events of lead `lead` (an Airtable id); event n of a lead always
    has the same id, so sending it again is a duplicate."""
    out = []
    for n, (event_type, hours, campaign, carrier) in enumerate(history, start=first):
        metadata: dict[str, str] = {"campaign_id": campaign} if campaign else {}
        if carrier:
            metadata["carrier"] = carrier
        body = {
            "eventId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{lead}/{n}")),
            "eventType": event_type,
            "leadAirtableId": lead,
            "clientId": str(client),
            "description": f"{event_type.lower()} {n}",
            "metadata": metadata,
            "source": SOURCE,
            "timestamp": at(hours).isoformat(),
        }
        out.append(AcceptedEvent.accept(parse_event(body), received_at=T0, origin=lead, raw=""))
    return out
