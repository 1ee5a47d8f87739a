"""Late lead: an event waits in retry_queue for its lead; a row that dies raises an alert."""

from __future__ import annotations

import uuid

import pytest
from fault_support import supervised

from activitylog.storage.stream import ensure_group
from activitylog_testing.polling import wait_for
from support import dumps, event
from webhook_sink import WebhookSink

pytestmark = pytest.mark.faults


async def test_an_event_waits_for_its_lead_and_a_lost_cause_alerts(
    pool, redis, fault_settings, artifacts
) -> None:
    arriving, never = uuid.uuid4(), uuid.uuid4()
    async with WebhookSink() as sink:
        settings = fault_settings.model_copy(
            update={
                "alert_webhook_url": sink.url,
                "retry_max_attempts": 8,
                "retry_backoff_initial_s": 0.3,
                "retry_backoff_max_s": 1.0,
            }
        )
        stream = settings.activity_stream
        await ensure_group(redis, stream, settings.ingest_group)
        async with (
            supervised(["ingest"], settings, artifacts),
            supervised(["retry"], settings, artifacts) as retry,
        ):
            waiting_id = await redis.xadd(
                stream, {"payload": dumps(event(1, leadId=str(arriving), leadAirtableId=None))}
            )
            lost_id = await redis.xadd(
                stream, {"payload": dumps(event(2, leadId=str(never), leadAirtableId=None))}
            )
            row = await wait_for(
                lambda: pool.fetchrow(
                    "SELECT * FROM retry_queue WHERE queue_id = $1 AND retry_count >= 1",
                    waiting_id.decode(),
                ),
                message="the event waiting in retry_queue",
            )
            assert row["status"] == "pending"
            assert f"lead {arriving} does not exist (yet)" in row["last_error"]
            assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 0

            # The lead sync brings the lead.
            await pool.execute(
                """
                INSERT INTO leads (id, airtable_record_id, first_name)
                VALUES ($1, 'recArrived', 'Ann')
                ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name
                """,
                arriving,
            )
            stored = await wait_for(
                lambda: pool.fetchrow(
                    "SELECT * FROM lead_activity_log WHERE lead_id = $1", arriving
                ),
                timeout=20,
                message="the event stored once its lead exists",
            )
            assert stored["lead_airtable_id"] == "recArrived"
            resolved = await pool.fetchval(
                "SELECT status FROM retry_queue WHERE queue_id = $1", waiting_id.decode()
            )
            assert resolved == "resolved"

            text = await wait_for(
                lambda: _dead_alert(sink), timeout=30, message="an alert for the lost cause"
            )
        assert retry.exit_codes == []
        assert retry.final_codes == [0]

    lost = await pool.fetchrow("SELECT * FROM retry_queue WHERE queue_id = $1", lost_id.decode())
    assert lost["status"] == "dead"
    assert lost["retry_count"] == 8
    assert lost["alerted_at"] is not None
    assert f"row {lost['id']} ({lost_id.decode()}): MESSAGE_SENT for lead {never}" in text
    assert "gave up after 8 attempts" in text
    assert sum("went dead" in t for t in sink.texts) == 1


async def _dead_alert(sink: WebhookSink) -> str | None:
    return next((t for t in sink.texts if "went dead" in t), None)
