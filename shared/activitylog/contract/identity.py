"""The event-id rule (docs/CONTRACT.md §3) and the accepted event that storage receives."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson

from activitylog.contract.events import ActivityEvent
from activitylog.contract.times import iso

# Fixed namespace for every UUIDv5 the product derives; changing it would change every id.
EVENT_ID_NAMESPACE = uuid.UUID("81f0aa53-999f-4930-8946-01472274092f")
_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes


def product_uuid5(name: str) -> uuid.UUID:
    """`uuid.uuid5(EVENT_ID_NAMESPACE, name)`, without re-reading the namespace's bytes on
    every call (a third of uuid5's time, and uuid5 was a tenth of a worker's CPU)."""
    digest = hashlib.sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


def canonical_content(event: ActivityEvent) -> bytes:
    """Every field the producer sent, as sorted JSON: two events that differ in any field
    (description, createdBy and clientId included) never share a content id.

    The derived category is left out (it follows from the type), and so is eventId (an
    event with one never gets here).
    """
    content = event.model_dump(mode="json", by_alias=True, exclude={"event_id", "event_category"})
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def sms_fact_id(event: ActivityEvent) -> uuid.UUID | None:
    """The id of a provider's SMS fact: its provider, its message id and its type, so the
    same send seen by a template, the backfill and a replay is one event (CONTRACT §3)."""
    message = event.message
    if message is None:
        return None
    return product_uuid5(f"sms:{message.provider}:{message.message_id}:{event.event_type}")


def message_fact_id(provider: str, message_id: str, event_type: str) -> uuid.UUID:
    """The id `sms_fact_id` gives the fact `event_type` of one message (to find a send)."""
    return product_uuid5(f"sms:{provider}:{message_id}:{event_type}")


def derive_event_id(
    event: ActivityEvent,
    *,
    idempotency_key: str | None = None,
    fallback_key: str | None = None,
) -> uuid.UUID:
    """The identity rule (docs/CONTRACT.md §3): eventId, the provider's message, the
    Idempotency-Key, the whole content, the delivery.

    `fallback_key` names the delivery (a stream entry id) so a redelivered entry without
    timestamp or executionId keeps its id instead of getting a fresh random one.
    """
    if event.event_id is not None:
        return event.event_id
    if (fact_id := sms_fact_id(event)) is not None:
        return fact_id
    if idempotency_key:
        return product_uuid5("idempotency-key:" + idempotency_key)
    if event.timestamp is not None or event.execution_id is not None:
        return product_uuid5("event:" + canonical_content(event).decode())
    if fallback_key:
        return product_uuid5("delivery:" + fallback_key)
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
        if e.lead_airtable_id or e.lead_id:
            return e.lead_airtable_id or str(e.lead_id)
        if e.lead_phone or e.lead_email:
            return e.lead_phone or e.lead_email
        return f"message {e.message.key}" if e.message else None

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
