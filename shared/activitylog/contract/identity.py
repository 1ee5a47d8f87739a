"""The event-id rule (docs/CONTRACT.md §3) and the accepted event that storage receives."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson

from activitylog.contract.events import ActivityEvent
from activitylog.contract.times import iso

# Fixed namespace for every UUIDv5 the product derives; changing it would change every id.
EVENT_ID_NAMESPACE = uuid.UUID("81f0aa53-999f-4930-8946-01472274092f")


def _canonical_content(event: ActivityEvent) -> bytes:
    content = {
        "eventType": event.event_type.value,
        "leadId": str(event.lead_id) if event.lead_id else None,
        "leadAirtableId": event.lead_airtable_id,
        "source": event.source,
        "executionId": event.execution_id,
        "timestamp": event.timestamp.isoformat() if event.timestamp else None,
        "messageContent": event.message_content,
        "metadata": event.metadata,
    }
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def derive_event_id(
    event: ActivityEvent,
    *,
    idempotency_key: str | None = None,
    fallback_key: str | None = None,
) -> uuid.UUID:
    """The identity rule (docs/CONTRACT.md §3): eventId, Idempotency-Key, content, delivery.

    `fallback_key` names the delivery (a stream entry id) so a redelivered entry without
    timestamp or executionId keeps its id instead of getting a fresh random one.
    """
    if event.event_id is not None:
        return event.event_id
    if idempotency_key:
        return uuid.uuid5(EVENT_ID_NAMESPACE, "idempotency-key:" + idempotency_key)
    if event.timestamp is not None or event.execution_id is not None:
        return uuid.uuid5(EVENT_ID_NAMESPACE, "content:" + _canonical_content(event).decode())
    if fallback_key:
        return uuid.uuid5(EVENT_ID_NAMESPACE, "delivery:" + fallback_key)
    return uuid.uuid4()


@dataclass(frozen=True, slots=True)
class AcceptedEvent:
    """A valid event with its identity and effective time settled; what storage receives."""

    id: uuid.UUID
    event: ActivityEvent
    timestamp: datetime
    origin: str  # where it came from (stream entry id, "http", retry row), for dead letters
    raw: str  # the payload as received, kept for the retry queue

    @property
    def lead_reference(self) -> str | None:
        """The lead the event names, as text (the Airtable id first), for logs and letters."""
        e = self.event
        return e.lead_airtable_id or (str(e.lead_id) if e.lead_id else None)

    @classmethod
    def accept(
        cls,
        event: ActivityEvent,
        *,
        received_at: datetime,
        origin: str,
        raw: str,
        idempotency_key: str | None = None,
        fallback_key: str | None = None,
    ) -> AcceptedEvent:
        event_id = derive_event_id(
            event, idempotency_key=idempotency_key, fallback_key=fallback_key
        )
        return cls(event_id, event, event.timestamp or received_at, origin, raw)

    @classmethod
    def for_publishing(
        cls, event: ActivityEvent, *, received_at: datetime, idempotency_key: str | None
    ) -> AcceptedEvent:
        """An event received over HTTP, its payload rewritten to carry the settled id and time.

        Whichever path then stores it (the stream, the direct fallback, a replay), the
        payload alone yields the same id, so they all land on one row.
        """
        provisional = cls.accept(
            event, received_at=received_at, origin="", raw="", idempotency_key=idempotency_key
        )
        payload = event.model_dump(mode="json", by_alias=True, exclude_none=True)
        payload["eventId"] = str(provisional.id)
        payload["timestamp"] = iso(provisional.timestamp)
        return cls(
            provisional.id,
            event,
            provisional.timestamp,
            f"http:{provisional.id}",
            orjson.dumps(payload).decode(),
        )
