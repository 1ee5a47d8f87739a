"""Events that name their lead by phone, email or message, and SMS facts that join their
send, against the real database: parked with the reason when nothing matches, placed when
the lead arrives, counted under the send's campaign whichever arrives first."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.domain.leads.records import LeadInput
from activitylog.domain.retry.outcomes import RetryPolicy
from activitylog.use_cases.analytics import keeping
from activitylog.use_cases.leads import saving as lead_saving
from activitylog.use_cases.retry.redrive import redrive_due
from activitylog.use_cases.store_batch import StoreResult, store_batch

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=2, backoff_initial_s=3600, backoff_max_s=3600)


async def store(pool: asyncpg.Pool, *bodies: dict[str, Any]) -> StoreResult:
    events = [
        AcceptedEvent.accept(
            parse_event(b),
            received_at=T0,
            origin=f"http:{uuid.uuid4()}",
            raw=orjson.dumps(b).decode(),
        )
        for b in bodies
    ]
    async with pool.acquire() as conn:
        return await store_batch(conn, events)


async def save_lead(pool: asyncpg.Pool, airtable_id: str, **details: Any) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await lead_saving.save_leads(conn, [LeadInput(None, airtable_id, details)])


def sms(event_type: str, message_id: str, **fields: Any) -> dict[str, Any]:
    metadata = {"provider": "simpletexting", "messageId": message_id, **fields.pop("meta", {})}
    return {
        "eventType": event_type,
        "description": event_type.lower().replace("_", " "),
        "source": "n8n:wf-sms",
        "timestamp": "2026-03-01T10:00:00Z",
        "metadata": metadata,
        **fields,
    }


async def test_a_phone_or_email_names_the_lead(pool) -> None:
    await save_lead(pool, "recPhone0001", phone="(408) 555-0001", email="Sam@Example.com")
    result = await store(
        pool,
        sms("INBOUND_REPLY", "in-1", leadPhone="4085550001"),
        {
            "eventType": "NOTE_ADDED",
            "leadEmail": "sam@example.COM",
            "description": "called back",
            "source": "ui:add-note",
        },
    )
    assert not result.refused
    rows = await pool.fetch("SELECT lead_airtable_id FROM lead_activity_log")
    assert [r["lead_airtable_id"] for r in rows] == ["recPhone0001", "recPhone0001"]


async def test_an_unknown_phone_is_parked_and_placed_when_the_lead_is_synced(pool) -> None:
    result = await store(pool, sms("MESSAGE_DELIVERED", "m-9", leadPhone="+14085559999"))
    (letter,) = result.refused
    assert letter.reason == (
        "no lead with phone +14085559999; no send of message simpletexting:m-9 stored yet"
    )
    row = await pool.fetchrow("SELECT status, waiting_for, next_retry_at FROM retry_queue")
    assert row["status"] == "pending"
    assert sorted(row["waiting_for"]) == ["message:simpletexting:m-9", "phone:14085559999"]
    # Tried until it gives up (dead, so an operator hears of it)...
    for status in ("pending", "dead"):
        await pool.execute("UPDATE retry_queue SET next_retry_at = now()")
        (outcome,) = await redrive_due(pool, POLICY, 10)
        assert outcome.status == status
    # ...and still placed when the lead sync brings the lead: pending and due at once.
    await save_lead(pool, "recLate00001", phone="408-555-9999")
    row = await pool.fetchrow("SELECT status, next_retry_at <= now() AS due FROM retry_queue")
    assert (row["status"], row["due"]) == ("pending", True)
    (outcome,) = await redrive_due(pool, POLICY, 10)
    assert outcome.status == "resolved"
    assert await pool.fetchval("SELECT lead_airtable_id FROM lead_activity_log") == "recLate00001"


async def test_two_leads_with_one_phone_are_not_guessed(pool) -> None:
    await save_lead(pool, "recTwin00001", phone="4085550002")
    await save_lead(pool, "recTwin00002", phone="+1 408 555 0002")
    (letter,) = (await store(pool, sms("INBOUND_REPLY", "in-2", leadPhone="4085550002"))).refused
    assert "matches 2 leads (recTwin00001, recTwin00002)" in letter.reason


async def delivery_counts(pool, campaign: str) -> dict[str, int]:
    async with pool.acquire() as conn:
        await keeping.drain_all(conn)
    rows = await pool.fetch(
        """
        SELECT campaign, sum(delivered_n) AS d, sum(failed_n) AS f, sum(sent_n) AS s,
               count(*) FILTER (WHERE delivered_at IS NOT NULL) AS leads
        FROM lead_campaign_facts GROUP BY campaign
        """
    )
    by = {r["campaign"]: r for r in rows}
    r = by.get(campaign)
    return {
        "sent": int(r["s"]) if r else 0,
        "delivered": int(r["d"]) if r else 0,
        "failed": int(r["f"]) if r else 0,
        "leads delivered": int(r["leads"]) if r else 0,
        "campaigns": len(by),
    }


async def test_a_report_joins_its_send_whichever_arrives_first(pool) -> None:
    lead = {"leadAirtableId": "recJoin00001"}
    send_a = sms("MESSAGE_SENT", "m-1", meta={"campaignId": "spring"}, **lead)
    send_b = sms("MESSAGE_SENT", "m-2", meta={"campaignId": "spring"}, **lead)
    # m-1: the send first, then its report naming only the message (no lead, no campaign).
    assert not (await store(pool, send_a)).refused
    assert not (await store(pool, sms("MESSAGE_DELIVERED", "m-1"))).refused
    # m-2: the report first (naming its lead, not its campaign), then the send.
    assert not (await store(pool, sms("MESSAGE_FAILED", "m-2", **lead))).refused
    assert await delivery_counts(pool, "spring") == {
        "sent": 1, "delivered": 1, "failed": 0, "leads delivered": 1, "campaigns": 2
    }  # fmt: skip
    assert not (await store(pool, send_b)).refused
    # The failure learnt its campaign, and the analytics counted the lead again, exactly.
    assert await delivery_counts(pool, "spring") == {
        "sent": 2, "delivered": 1, "failed": 1, "leads delivered": 1, "campaigns": 1
    }  # fmt: skip
    stored = await pool.fetch(
        "SELECT event_type, metadata->>'campaignId' AS c, lead_airtable_id AS l "
        "FROM lead_activity_log ORDER BY event_type, metadata->>'messageId'"
    )
    assert [(r["event_type"], r["c"], r["l"]) for r in stored] == [
        ("MESSAGE_DELIVERED", "spring", "recJoin00001"),
        ("MESSAGE_FAILED", "spring", "recJoin00001"),
        ("MESSAGE_SENT", "spring", "recJoin00001"),
        ("MESSAGE_SENT", "spring", "recJoin00001"),
    ]


async def test_a_report_before_its_send_without_a_lead_waits_for_the_send(pool) -> None:
    (letter,) = (await store(pool, sms("MESSAGE_DELIVERED", "m-7"))).refused
    assert letter.waiting_for == ("message:simpletexting:m-7",)
    send = sms("MESSAGE_SENT", "m-7", meta={"campaignId": "c"}, leadAirtableId="recWait00001")
    assert not (await store(pool, send)).refused
    (outcome,) = await redrive_due(pool, POLICY, 10)  # the send made it due at once
    assert outcome.status == "resolved"
    assert await delivery_counts(pool, "c") == {
        "sent": 1, "delivered": 1, "failed": 0, "leads delivered": 1, "campaigns": 1
    }  # fmt: skip
