"""Row → facts → events: every fact one SMS_Audit row records becomes its own event.

One row is not one event. The production scheduler writes a row per send (Event `Sent`,
Status `Sent`, the phone as 10 digits); the delivery workflow writes a row of its own
(Event `Delivery`, Status `Delivered` or `Undelivered`, Carrier, Delivery At; its Lead
Record ID is blank when its lookup failed); older bases update the send's row instead
(Status, Delivery At, Carrier) or keep "Delivery Update" rows, and a click ticks Clicked.

"Campaign ID" is SimpleTexting's id of the message, so it becomes the tracking plan's
`messageId`, and each fact's event id is the one the API gives the same fact from a
template (the provider, the message id and the type): a message the log already has is
not stored twice. A fact without its lead, its time or a known status is skipped with the
reason, never guessed; a delivery without its lead names its message instead, and takes
the lead (and campaign) of its send when stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any

import orjson

from activitylog.contract.events import InvalidEvent, parse_event
from activitylog.contract.identity import EVENT_ID_NAMESPACE, AcceptedEvent
from activitylog.contract.references import e164, parse_lead_reference, phone_key
from activitylog.contract.taxonomy import EventType
from activitylog.contract.times import iso
from activitylog.domain.airtable import parse_time
from activitylog.domain.sms_audit.rows import AuditRow, CellTime

SOURCE = "system:sms-audit-backfill"
PROVIDER = "simpletexting"  # SMS_Audit holds SimpleTexting's messages only
# Types a row can hold: what reconcile compares.
FACT_TYPES = (
    EventType.MESSAGE_SENT,
    EventType.MESSAGE_DELIVERED,
    EventType.MESSAGE_FAILED,
    EventType.LINK_CLICKED,
)
_STATUSES = {"sent", "delivered", "undelivered", "failed", "clicked"}
_WEBHOOK_CHARS = 16_000  # enough for any carrier report; metadata holds 64 KiB at most


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
    """The SMS a row is about, as reports name it: SimpleTexting's id (Campaign ID)."""

    message_id: str
    phone: str
    lead: str


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    fact: Fact
    message: Message
    accepted: AcceptedEvent
    # The id this fact had under the rule before the tracking plan (backfills then keyed on
    # Campaign ID and phone), so a backfill run again after the upgrade adds nothing.
    legacy_id: uuid.UUID | None = None

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


def legacy_id(row: AuditRow, fact: Fact) -> uuid.UUID | None:
    """The id the backfill gave a fact before the tracking plan (an idempotency key naming
    the Campaign ID and phone digits, or the record id)."""
    digits = phone_key(row.phone)
    if row.campaign_id and digits:
        old = f"message:{row.campaign_id}:{digits}"
    elif row.record_id:
        old = f"record:{row.record_id}"
    else:
        return None
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"idempotency-key:sms-audit:{old}:{fact.value}")


def event_key(row: AuditRow, fact: Fact) -> str | None:
    """The idempotency key of a fact whose row has no message id (Campaign ID blank, as a
    send that failed at once has): its record id; None when it has none either."""
    return f"sms-audit:record:{row.record_id}:{fact.value}" if row.record_id else None


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

    def __init__(self, row: AuditRow, lead: dict[str, str], tz: tzinfo) -> None:
        self.row, self.lead, self.tz = row, lead, tz
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
        payload = self._payload(event_type, description, at, extra)
        try:
            event = parse_event(payload)
        except InvalidEvent as exc:
            self.skip(fact, SkipReason.INVALID_EVENT, f"{fact.value}: {exc}")
            return
        accepted = AcceptedEvent.accept(
            event, received_at=at, origin="", raw="", idempotency_key=event_key(self.row, fact)
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
                legacy_id(self.row, fact),
            )
        )

    def _payload(
        self, event_type: EventType, description: str, at: datetime, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """The event a fact of this row is, as a producer would send it."""
        row = self.row
        try:
            phone: str | None = e164(row.phone) if row.phone else None
        except ValueError:
            phone = None  # kept as written below; the tracking plan only takes a real number
        metadata = {
            "provider": PROVIDER if row.campaign_id else None,
            "messageId": row.campaign_id or None,
            "phone": phone,
            "smsAuditPhone": row.phone if row.phone and phone is None else None,
            "status": row.status,
            "sms_audit_record_id": row.record_id,
            **extra,
        }
        # Without its Lead Record ID a fact names the phone it went to; a delivery or a
        # click also names its message, whose send's lead is taken first when stored.
        lead = dict(self.lead) or ({"leadPhone": phone} if phone else {})
        payload: dict[str, Any] = {
            "eventType": event_type.value,
            **lead,
            "description": description,
            "messageContent": row.text or None,
            "metadata": {k: v for k, v in metadata.items() if v},
            "source": SOURCE,
            "timestamp": at.isoformat(),
        }
        return {k: v for k, v in payload.items() if v is not None}


def _is_phone(text: str) -> bool:
    try:
        e164(text)
    except ValueError:
        return False
    return True


def map_row(row: AuditRow, tz: tzinfo) -> tuple[list[PlannedEvent], list[Skip]]:
    """The events a row holds and the facts it cannot give; naive times are in `tz`."""
    reference = parse_lead_reference(row.lead) if row.lead else None
    status = row.status.lower()
    mapper = _Mapper(row, {}, tz)
    update_row = "delivery" in row.event.lower()
    if row.lead and reference is None:
        mapper.skip(
            None,
            SkipReason.NO_LEAD,
            f"Lead Record ID {row.lead!r} (not an Airtable record id or UUID)",
        )
        return [], mapper.skips
    # A row without its lead still names its message (a delivery's send has the lead) or
    # the phone the message went to; one with neither cannot be placed.
    if reference is None and not row.campaign_id and not _is_phone(row.phone):
        mapper.skip(None, SkipReason.NO_LEAD, "Lead Record ID is blank and no Campaign ID or phone")
        return [], mapper.skips
    if status not in _STATUSES:
        detail = f"Status {row.status!r}" if row.status else "Status is blank"
        mapper.skip(None, SkipReason.UNKNOWN_STATUS, detail)
        return [], mapper.skips
    if not row.campaign_id and not row.record_id:
        mapper.skip(None, SkipReason.NO_MESSAGE_ID, "no Campaign ID (message id) and no record id")
        return [], mapper.skips
    if reference is not None and reference.airtable_id:
        mapper.lead = {"leadAirtableId": reference.airtable_id}
    elif reference is not None:
        mapper.lead = {"leadId": str(reference.lead_id)}

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
