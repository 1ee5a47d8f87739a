"""Row → facts → events: every fact one SMS_Audit row records becomes its own event.

One row is not one event: the scheduler writes the send, the delivery webhook later
updates the same row (Status, Delivery At, Carrier), a click ticks Clicked. Some bases
also keep separate "Delivery Update" rows. A fact without its lead, its time or a known
status is skipped with the reason, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any

import orjson

from activitylog.contract.events import InvalidEvent, parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.contract.references import parse_lead_reference
from activitylog.contract.taxonomy import EventType
from activitylog.contract.times import iso
from activitylog.retry.airtable_import import parse_time
from activitylog.sms_audit.rows import AuditRow, CellTime

SOURCE = "system:sms-audit-backfill"
# Types a row can hold: what reconcile compares.
FACT_TYPES = (
    EventType.MESSAGE_SENT,
    EventType.MESSAGE_DELIVERED,
    EventType.MESSAGE_FAILED,
    EventType.LINK_CLICKED,
)
_STATUSES = {"sent", "delivered", "undelivered", "failed", "clicked"}
_WEBHOOK_CHARS = 16_000  # enough for any carrier report; metadata holds 64 KiB at most
_NON_DIGITS = re.compile(r"\D")


class Fact(StrEnum):
    SEND = "send"
    DELIVERY = "delivery"
    CLICK = "click"


class SkipReason(StrEnum):
    NO_LEAD = "no lead"
    NO_TIME = "no time"
    UNKNOWN_STATUS = "unknown status"
    NO_MESSAGE_ID = "no message id"
    INVALID_EVENT = "not a valid event"


@dataclass(frozen=True, slots=True)
class Message:
    """The SMS a row is about, as reports name it."""

    campaign_id: str
    phone: str
    lead: str


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    fact: Fact
    message: Message
    accepted: AcceptedEvent

    @property
    def event_type(self) -> EventType:
        return self.accepted.event.event_type


@dataclass(frozen=True, slots=True)
class Skip:
    """A row (fact None) or one fact of a row that cannot become an event, and why."""

    where: str
    fact: Fact | None
    reason: SkipReason
    detail: str
    message: Message


def phone_digits(phone: str) -> str:
    """The phone as digits with its country code: `+1 (555) 000-1111`, `555.000.1111` and
    `+15550001111` are one number (SimpleTexting sends to US and Canadian numbers, so ten
    digits are a North American number without its leading 1)."""
    digits = _NON_DIGITS.sub("", phone)
    return "1" + digits if len(digits) == 10 else digits


def message_key(row: AuditRow) -> str | None:
    """What names the message in both sources: the SimpleTexting message id and the phone
    (a plain export has no record id; a "Delivery Update" row has a record id of its own),
    else the row's record id; None when there is neither."""
    digits = phone_digits(row.phone)
    if row.campaign_id and digits:
        return f"message:{row.campaign_id}:{digits}"
    if row.record_id:
        return f"record:{row.record_id}"
    return None


def event_key(key: str, fact: Fact) -> str:
    """The idempotency key of one fact: its event id is the contract's UUIDv5 of it."""
    return f"sms-audit:{key}:{fact.value}"


def _instant(value: CellTime, column: str, tz: tzinfo) -> datetime | str:
    """The cell's instant, or the reason it has none (a str)."""
    if value is None:
        return f"{column} is blank"
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    try:
        return parse_time(value, tz)
    except ValueError:
        return f"{column} {value!r} is not a date/time"


class _Mapper:
    """Maps one row; collects its events and skips."""

    def __init__(self, row: AuditRow, key: str, lead: dict[str, str], tz: tzinfo) -> None:
        self.row, self.key, self.lead, self.tz = row, key, lead, tz
        self.message = Message(row.campaign_id, row.phone, row.lead)
        self.events: list[PlannedEvent] = []
        self.skips: list[Skip] = []

    def skip(self, fact: Fact | None, reason: SkipReason, detail: str) -> None:
        self.skips.append(Skip(self.row.where, fact, reason, detail, self.message))

    def add(
        self,
        fact: Fact,
        event_type: EventType,
        column: str,
        when: CellTime,
        description: str,
        extra: dict[str, Any],
    ) -> None:
        at = _instant(when, column, self.tz)
        if isinstance(at, str):
            self.skip(fact, SkipReason.NO_TIME, f"{fact.value}: {at}")
            return
        row = self.row
        metadata = {
            "campaign_id": row.campaign_id or None,
            "phone": row.phone or None,
            "status": row.status,
            "sms_audit_record_id": row.record_id,
            **extra,
        }
        payload: dict[str, Any] = {
            "eventType": event_type.value,
            **self.lead,
            "description": description,
            "messageContent": row.text or None,
            "metadata": {k: v for k, v in metadata.items() if v},
            "source": SOURCE,
            "timestamp": at.isoformat(),
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        try:
            event = parse_event(payload)
        except InvalidEvent as exc:
            self.skip(fact, SkipReason.INVALID_EVENT, f"{fact.value}: {exc}")
            return
        accepted = AcceptedEvent.accept(
            event, received_at=at, origin="", raw="", idempotency_key=event_key(self.key, fact)
        )
        # What a retry-queue row would hold (a lead UUID not there yet): named by the event,
        # so a re-run files the same row, and a payload carrying the settled id to replay.
        origin = f"sms-audit:{accepted.id}"
        raw = orjson.dumps({**payload, "eventId": str(accepted.id), "timestamp": iso(at)})
        self.events.append(
            PlannedEvent(
                fact,
                self.message,
                AcceptedEvent(accepted.id, event, accepted.timestamp, origin, raw.decode()),
            )
        )


def map_row(row: AuditRow, tz: tzinfo) -> tuple[list[PlannedEvent], list[Skip]]:
    """The events a row holds and the facts it cannot give; naive times are in `tz`."""
    reference = parse_lead_reference(row.lead) if row.lead else None
    key = message_key(row)
    status = row.status.lower()
    mapper = _Mapper(row, key or "", {}, tz)
    if reference is None:
        detail = "Lead Record ID is blank" if not row.lead else f"Lead Record ID {row.lead!r}"
        mapper.skip(None, SkipReason.NO_LEAD, detail + " (not an Airtable record id or UUID)")
        return [], mapper.skips
    if status not in _STATUSES:
        detail = f"Status {row.status!r}" if row.status else "Status is blank"
        mapper.skip(None, SkipReason.UNKNOWN_STATUS, detail)
        return [], mapper.skips
    if key is None:
        mapper.skip(None, SkipReason.NO_MESSAGE_ID, "no Campaign ID and Phone, and no record id")
        return [], mapper.skips
    if reference.airtable_id:
        mapper.lead = {"leadAirtableId": reference.airtable_id}
    else:
        mapper.lead = {"leadId": str(reference.lead_id)}

    update_row = "delivery" in row.event.lower()
    failed = status in {"failed", "undelivered"}
    send_failed = status == "failed" and row.delivery_at is None and not update_row
    if not update_row:
        if send_failed:
            mapper.add(Fact.SEND, EventType.MESSAGE_FAILED, "Sent At", row.sent_at,
                       "SMS failed to send", {})  # fmt: skip
        else:
            mapper.add(Fact.SEND, EventType.MESSAGE_SENT, "Sent At", row.sent_at, "SMS sent", {})
    # A click overwrites the status; its row was delivered if it says when.
    delivered = status == "delivered" or (status == "clicked" and row.delivery_at is not None)
    if (failed and not send_failed) or delivered:
        carrier = {"carrier": row.carrier} if row.carrier else {}
        extra = {**carrier, "webhook_raw": row.webhook_raw[:_WEBHOOK_CHARS] or None}
        suffix = f" ({row.carrier})" if row.carrier else ""
        if delivered:
            mapper.add(Fact.DELIVERY, EventType.MESSAGE_DELIVERED, "Delivery At",
                       row.delivery_at, "SMS delivered" + suffix, extra)  # fmt: skip
        else:
            mapper.add(Fact.DELIVERY, EventType.MESSAGE_FAILED, "Delivery At", row.delivery_at,
                       f"SMS {status}{suffix}", extra)  # fmt: skip
    elif update_row and not (row.clicked or status == "clicked"):
        mapper.skip(
            None, SkipReason.UNKNOWN_STATUS, f"a Delivery Update row with Status {row.status!r}"
        )
    if row.clicked or status == "clicked":
        mapper.add(
            Fact.CLICK, EventType.LINK_CLICKED, "Clicked At", row.clicked_at, "Link clicked", {}
        )
    return mapper.events, mapper.skips
