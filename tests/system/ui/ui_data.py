"""Leads and events for the UI tests, stored through the product's own path (store_batch)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.use_cases.store_batch import store_batch
from activitylog_testing.leads import add_lead


async def store_events(pool: asyncpg.Pool, bodies: list[dict[str, Any]]) -> list[uuid.UUID]:
    """Validate and store events exactly as the ingest would; returns their ids in order."""
    accepted = []
    for n, body in enumerate(bodies):
        raw = orjson.dumps(body).decode()
        accepted.append(
            AcceptedEvent.accept(
                parse_event(body),
                received_at=datetime.now(UTC),
                origin=f"ui-test-{n}",
                raw=raw,
                fallback_key=f"ui-test-{uuid.uuid4()}",
            )
        )
    async with pool.acquire() as conn:
        await store_batch(conn, accepted)
    return [a.id for a in accepted]


def body(
    event_type: str,
    airtable_id: str,
    description: str,
    when: datetime,
    *,
    message: str | None = None,
    metadata: dict[str, Any] | None = None,
    source: str = "n8n:wf-sms",
    execution_id: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "eventType": event_type,
        "leadAirtableId": airtable_id,
        "description": description,
        "source": source,
        "timestamp": when.isoformat(),
    }
    if message is not None:
        data["messageContent"] = message
    if metadata is not None:
        data["metadata"] = metadata
    if execution_id is not None:
        data["executionId"] = execution_id
    return data


@dataclass(frozen=True)
class Seed:
    """A small, varied log: two named leads and a stub, seven events over eight days."""

    jane: uuid.UUID
    bob: uuid.UUID
    now: datetime


async def seed(pool: asyncpg.Pool) -> Seed:
    now = datetime.now(UTC).replace(microsecond=0)
    jane = await add_lead(
        pool,
        "recJaneDoe01",
        first_name="Jane",
        last_name="Doe",
        email="jane.doe@example.com",
        phone="+15550001111",
        status="qualified",
    )
    bob = await add_lead(
        pool,
        "recBobStone1",
        first_name="Bob",
        last_name="Stone",
        email="bob@example.com",
        phone="+15550002222",
    )
    m = timedelta(minutes=1)
    await store_events(
        pool,
        [
            body(
                "MESSAGE_SENT",
                "recJaneDoe01",
                "Reminder SMS sent",
                now - 10 * m,
                message="Hi Jane, your roof inspection is tomorrow at 10am. Reply YES to confirm.",
                metadata={"campaign_id": "spring-roofing", "phone": "+15550001111", "segment": 2},
                execution_id="exec-jane-1",
            ),
            body(
                "INBOUND_REPLY",
                "recJaneDoe01",
                "Reply received",
                now - 9 * m,
                message="YES please, Tuesday works for me",
                metadata={"phone": "+15550001111"},
                execution_id="exec-jane-2",
            ),
            body(
                "BOOKING_CONFIRMED",
                "recJaneDoe01",
                "Calendly booking confirmed",
                now - timedelta(days=2),
                metadata={"calendly_event_uri": "https://calendly.example/e/1"},
                source="system:calendly",
            ),
            body(
                "NOTE_ADDED",
                "recJaneDoe01",
                "Note added by Sam",
                now - timedelta(days=3),
                message="Prefers mornings; has a dog.",
                source="ui:note",
            ),
            body(
                "CAMPAIGN_ENROLLED",
                "recBobStone1",
                "Enrolled in the winter campaign",
                now - timedelta(hours=3),
                metadata={"campaign_id": "winter-hvac"},
                source="n8n:wf-campaign",
            ),
            body(
                "AI_RESPONSE_SENT",
                "recBobStone1",
                "AI answered a pricing question",
                now - timedelta(hours=30),
                message="Our basic plan starts at $99 a month.",
                source="n8n:wf-ai",
            ),
            body(
                "ENRICHMENT_COMPLETED",
                "recStubLead9",
                "Enrichment completed",
                now - timedelta(days=8),
                metadata={"provider": "clearbit", "score": 71},
                source="system:enrichment",
            ),
        ],
    )
    return Seed(jane, bob, now)
