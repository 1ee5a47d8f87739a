"""The n8n templates in deploy/n8n, run in a real n8n: the log-activity sub-workflow (API,
retries, the retry_queue fallback, the error workflow) and the provider webhook flows."""

from __future__ import annotations

import copy
import functools
import uuid
from typing import Any

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis
from fake_simpletexting import FakeSimpleTexting
from http_gate import OutageGate
from n8n_flows import activity_log, handled, post_webhook, retry_rows, stored, wait_stored
from n8n_support import SIMPLETEXTING_TOKEN, SMS_TEST_WORKFLOW, N8nHarness, payload

from activitylog.contract.identity import EVENT_ID_NAMESPACE, message_fact_id
from activitylog.runtime.settings import Settings
from activitylog_retry.service import run_retry
from activitylog_testing.leads import add_lead
from activitylog_testing.polling import wait_for
from activitylog_testing.ports import free_port
from activitylog_testing.serving import running


def events(n: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "eventType": "MESSAGE_SENT",
            "leadAirtableId": f"rec{prefix}{i:04d}",
            "description": f"SMS {i} sent",
            "messageContent": f"Hello {i}",
            "metadata": {"campaignId": "camp-n8n", "n": i},
        }
        for i in range(n)
    ]


async def call_log_activity(n8n: N8nHarness, body: list[dict[str, Any]]) -> httpx.Response:
    """Run the test caller, which hands the events to log-activity via Execute Workflow."""
    async with httpx.AsyncClient(timeout=120) as http:
        return await http.post(n8n.server.webhook_url("test-log-activity"), json={"events": body})


def expected_id(row: asyncpg.Record, index: int) -> uuid.UUID:
    """The id rule of the log-activity template, computed independently of n8n."""
    name = (
        f"n8n:{row['source']}:{row['execution_id']}:{index}:{row['event_type']}:"
        f"{row['lead_airtable_id']}"
    )
    return uuid.uuid5(EVENT_ID_NAMESPACE, name)


async def test_sub_workflow_stores_each_event_once_with_ids_from_execution_and_index(
    n8n: N8nHarness, n8n_settings: Settings, pool: asyncpg.Pool
) -> None:
    body = events(3, "Sub")
    async with activity_log(n8n_settings):
        response = await call_log_activity(n8n, body)
        assert response.status_code == 200, response.text
        rows = await wait_stored(pool, 3, "three events stored")
    assert len(rows) == 3
    by_lead = {r["lead_airtable_id"]: r for r in rows}
    for index, sent in enumerate(body):
        row = by_lead[sent["leadAirtableId"]]
        assert row["source"] == "n8n:ActLogTestCaller"
        assert row["description"] == sent["description"]
        assert row["metadata"] == sent["metadata"]
        assert row["id"] == expected_id(row, index)
    assert {r["execution_id"] for r in rows} == {rows[0]["execution_id"]}
    assert await retry_rows(pool) == []
    assert n8n.sink.received == []


async def test_an_sms_fact_gets_no_event_id_here_and_is_one_event_across_executions(
    n8n: N8nHarness, n8n_settings: Settings, pool: asyncpg.Pool
) -> None:
    # The same send handed to log-activity by two executions (a re-run, or a second
    # workflow that saw it): no id from either execution, the activity log's from the message.
    sent = {
        "eventType": "MESSAGE_SENT",
        "leadAirtableId": "recSmsFact0001",
        "description": "SMS sent",
        "metadata": {
            "provider": "simpletexting",
            "messageId": "65f1c0a94b3a2e0012ab0001",
            "campaignId": "camp-n8n",
            "phone": "4085550001",
        },
    }
    async with activity_log(n8n_settings):
        for _ in range(2):
            response = await call_log_activity(n8n, [sent])
            assert response.status_code == 200, response.text
        rows = await wait_stored(pool, 1, "the send stored")
    assert len(rows) == 1
    (row,) = rows
    assert row["id"] == message_fact_id("simpletexting", "65f1c0a94b3a2e0012ab0001", "MESSAGE_SENT")
    assert row["metadata"]["phone"] == "+14085550001"  # 10 digits, stored as E.164
    assert await retry_rows(pool) == []


async def test_api_answering_503_once_then_recovering_stores_each_event_once(
    n8n: N8nHarness, n8n_settings: Settings, pool: asyncpg.Pool
) -> None:
    api = n8n_settings.model_copy(update={"api_port": free_port()})
    body = events(2, "Gate")
    async with (
        activity_log(api),
        OutageGate(n8n.api_port, f"http://127.0.0.1:{api.api_port}", fail_first=1) as gate,
    ):
        response = await call_log_activity(n8n, body)
        assert response.status_code == 200, response.text
        rows = await wait_stored(pool, 2, "both events stored")
    # n8n's retry re-sent the same request after the 503; nothing went to the fallback.
    assert gate.answered[0] == 503
    assert 202 in gate.answered[1:]
    assert sorted(r["lead_airtable_id"] for r in rows) == ["recGate0000", "recGate0001"]
    assert await retry_rows(pool) == []
    assert n8n.sink.received == []


async def test_api_unreachable_falls_back_to_retry_queue_which_the_retry_service_stores(
    n8n: N8nHarness, n8n_settings: Settings, pool: asyncpg.Pool
) -> None:
    body = events(2, "Down")
    # Nothing listens on the API's port: every try is refused.
    response = await call_log_activity(n8n, body)
    assert response.status_code == 200, response.text

    rows = await wait_for(
        lambda: _rows_if(pool, 2), timeout=30, message="two retry_queue rows from n8n"
    )
    payloads = [orjson.loads(r["payload"]) for r in rows]
    assert {r["status"] for r in rows} == {"pending"}
    assert {r["operation_type"] for r in rows} == {"activity_log"}
    assert sorted(r["lead_id"] for r in rows) == ["recDown0000", "recDown0001"]
    assert all("activity log API" in r["last_error"] for r in rows)
    assert [p["leadAirtableId"] for p in payloads] == ["recDown0000", "recDown0001"]

    await wait_for(lambda: _has_alert(n8n, "retry_queue"), timeout=30, message="the alert")

    # Nobody does anything but run the retry service: the rows become events.
    async with running(functools.partial(run_retry, n8n_settings)):
        stored_rows = await wait_stored(pool, 2, "the retry service to store the events")

        async def resolved() -> bool:
            return {r["status"] for r in await retry_rows(pool)} == {"resolved"}

        await wait_for(resolved, timeout=30, message="the rows resolved")
    assert {str(r["id"]) for r in stored_rows} == {p["eventId"] for p in payloads}
    for index, row in enumerate(sorted(stored_rows, key=lambda r: r["lead_airtable_id"])):
        assert row["id"] == expected_id(row, index)


async def test_api_and_fallback_both_down_fail_the_execution_and_fire_the_error_workflow(
    n8n: N8nHarness, pool: asyncpg.Pool
) -> None:
    await n8n.db_path.cut()
    response = await call_log_activity(n8n, events(1, "Both"))
    assert response.status_code >= 500, response.text
    await wait_for(
        lambda: _has_alert(n8n, "failed"), timeout=60, message="the error workflow's alert"
    )
    # The sub-workflow failed writing the fallback, so the calling execution failed too.
    await wait_for(
        lambda: _has_alert(n8n, 'failed at node "Write to retry_queue"'),
        timeout=30,
        message="the alert naming the fallback node",
    )
    await n8n.db_path.restore()
    assert await retry_rows(pool) == []
    assert await stored(pool) == []


async def _rows_if(pool: asyncpg.Pool, n: int) -> list[asyncpg.Record] | None:
    rows = await retry_rows(pool)
    return rows if len(rows) >= n else None


async def _has_alert(n8n: N8nHarness, word: str) -> bool:
    return any(word in text for text in n8n.sink.texts)


async def test_simpletexting_delivery_webhook_logs_delivered_and_failed_once(
    n8n: N8nHarness, n8n_settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    # No send of this message is logged: the activity log places the reports by leadPhone.
    await add_lead(pool, "recLeadSt0001", "Ann", "Lead", phone="+1 (555) 123-0001")
    delivered = payload("simpletexting-delivery-report.json")
    failed = copy.deepcopy(delivered)
    failed.update(reportId="65f1c0de4b3a2e0012ab99ff", type="NON_DELIVERED_REPORT")
    before = await n8n.server.finished_executions("ActLogStDelivery")
    async with activity_log(n8n_settings):
        await post_webhook(n8n, "simpletexting-delivery", delivered)
        await post_webhook(n8n, "simpletexting-delivery", failed)
        rows = await wait_stored(pool, 2, "delivered and failed events")
        # SimpleTexting posting the same report again adds nothing.
        await post_webhook(n8n, "simpletexting-delivery", delivered)
        await handled(n8n, n8n_settings, redis, "ActLogStDelivery", before + 3)
    rows = await stored(pool)
    message_id = delivered["values"]["messageId"]
    assert sorted(r["event_type"] for r in rows) == ["MESSAGE_DELIVERED", "MESSAGE_FAILED"]
    assert {r["lead_airtable_id"] for r in rows} == {"recLeadSt0001"}
    assert {r["source"] for r in rows} == {"n8n:ActLogStDelivery"}
    for row in rows:
        assert row["id"] == message_fact_id("simpletexting", message_id, row["event_type"])
        assert row["metadata"]["provider"] == "simpletexting"
        assert row["metadata"]["messageId"] == message_id
        assert row["metadata"]["phone"] == "+15551230001"
        assert row["metadata"]["carrier"] == "Verizon"
    meta = {r["event_type"]: r["metadata"] for r in rows}
    assert meta["MESSAGE_FAILED"]["reportId"] == "65f1c0de4b3a2e0012ab99ff"
    assert await retry_rows(pool) == []


async def test_a_report_type_the_delivery_flow_does_not_handle_alerts_instead_of_vanishing(
    n8n: N8nHarness, pool: asyncpg.Pool
) -> None:
    report = payload("simpletexting-delivery-report.json")
    report.update(reportId="65f1c0de4b3a2e0012ab77aa", type="INCOMING_MESSAGE")
    await post_webhook(n8n, "simpletexting-delivery", report)
    await wait_for(
        lambda: _has_alert(n8n, "is not a delivery report"),
        timeout=60,
        message="the error workflow's alert naming the report type",
    )
    assert await stored(pool) == []


async def test_simpletexting_inbound_webhook_logs_replies_and_opt_outs(
    n8n: N8nHarness, n8n_settings: Settings, pool: asyncpg.Pool
) -> None:
    await add_lead(pool, "recLeadSt0002", "Bo", "Lead", phone="5551230001")
    reply = payload("simpletexting-inbound-message.json")
    stop = copy.deepcopy(reply)
    stop["reportId"] = "65f1c9124b3a2e0012ab3600"
    stop["values"].update(messageId="65f1c9104b3a2e0012ab3601", text=" Stop ")
    async with activity_log(n8n_settings):
        await post_webhook(n8n, "simpletexting-inbound", reply)
        await post_webhook(n8n, "simpletexting-inbound", stop)
        rows = await wait_stored(pool, 2, "the reply and the opt-out")
    by_type = {r["event_type"]: r for r in rows}
    assert set(by_type) == {"INBOUND_REPLY", "OPT_OUT"}
    answer = by_type["INBOUND_REPLY"]
    assert answer["message_content"] == "Yes, Thursday afternoon works for me"
    assert answer["timestamp"].isoformat() == "2026-03-02T14:20:08.489000+00:00"
    assert answer["id"] == message_fact_id(
        "simpletexting", reply["values"]["messageId"], "INBOUND_REPLY"
    )
    assert answer["metadata"]["phone"] == "+15551230001"
    assert {r["lead_airtable_id"] for r in rows} == {"recLeadSt0002"}


async def test_calendly_webhook_logs_confirmed_cancelled_and_rescheduled(
    n8n: N8nHarness, n8n_settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    await add_lead(pool, "recLeadCal0002", "Cy", "Lead", email="Cy.Lead@Example.com")
    created = payload("calendly-invitee-created.json")
    canceled = payload("calendly-invitee-canceled.json")
    # A reschedule: the old booking is canceled with rescheduled=true, a new one created
    # with old_invitee; this one has no utm_content, so the activity log finds the lead by
    # the invitee's email (leadEmail).
    old_canceled = copy.deepcopy(canceled)
    old_canceled["payload"].update(
        rescheduled=True, email="cy.lead@example.com", tracking={}, uri="https://x/inv/OLD"
    )
    old_canceled["created_at"] = "2026-03-04T08:00:00.000000Z"
    new_created = copy.deepcopy(created)
    new_created["created_at"] = "2026-03-04T08:00:01.000000Z"
    new_created["payload"].update(
        old_invitee="https://x/inv/OLD",
        email="cy.lead@example.com",
        tracking={"utm_content": None},
        uri="https://x/inv/NEW",
    )
    before = await n8n.server.finished_executions("ActLogCalendly01")
    async with activity_log(n8n_settings):
        for body in (created, canceled, old_canceled, new_created):
            await post_webhook(n8n, "calendly", body)
        rows = await wait_stored(pool, 3, "three booking events")
        await post_webhook(n8n, "calendly", created)  # Calendly's retry of a delivery
        await handled(n8n, n8n_settings, redis, "ActLogCalendly01", before + 5)
    rows = await stored(pool)
    assert [(r["event_type"], r["lead_airtable_id"]) for r in rows] == [
        ("BOOKING_CONFIRMED", "recLeadCal0001"),
        ("BOOKING_CANCELLED", "recLeadCal0001"),
        ("BOOKING_RESCHEDULED", "recLeadCal0002"),
    ]
    assert rows[0]["description"].startswith("Booked 30 Minute Discovery Call")
    assert "Something came up at work" in rows[1]["description"]
    assert rows[0]["metadata"]["startTime"] == "2026-03-05T16:00:00Z"
    assert await retry_rows(pool) == []


async def test_sms_scheduler_run_by_n8n_execute_logs_sent_and_failed_messages(
    n8n: N8nHarness, n8n_settings: Settings, pool: asyncpg.Pool
) -> None:
    due = [
        {
            "leadAirtableId": "recLeadSms001",
            "phone": "5551230010",
            "text": "Hi Ann, still keen?",
            "campaignId": "spring-roofing",
        },
        {
            "leadAirtableId": "recLeadSms002",
            "phone": "5551230020",
            "text": "Hi Bo, still keen?",
            "campaignId": "spring-roofing",
        },
    ]
    async with (
        FakeSimpleTexting(refused={"5551230020"}) as simpletexting,
        activity_log(n8n_settings),
    ):
        code = await n8n.server.execute(
            SMS_TEST_WORKFLOW,
            SIMPLETEXTING_API_URL=simpletexting.url,
            TEST_MESSAGES_DUE=orjson.dumps(due).decode(),
        )
        assert code == 0, f"n8n execute exited {code}; see {n8n.server.config.log_path}"
        rows = await wait_stored(pool, 2, "the sent and the failed message")
    assert [auth for auth, _ in simpletexting.received] == [f"Bearer {SIMPLETEXTING_TOKEN}"] * 2
    assert {body["contactPhone"] for _, body in simpletexting.received} == {
        "5551230010",
        "5551230020",
    }
    by_lead = {r["lead_airtable_id"]: r for r in rows}
    sent, failed = by_lead["recLeadSms001"], by_lead["recLeadSms002"]
    assert (sent["event_type"], sent["message_content"]) == ("MESSAGE_SENT", due[0]["text"])
    message_id = simpletexting.message_id_to("5551230010")
    assert sent["metadata"] == {
        "provider": "simpletexting",
        "messageId": message_id,
        "campaignId": "spring-roofing",
        "phone": "+15551230010",
    }
    assert sent["id"] == message_fact_id("simpletexting", message_id, "MESSAGE_SENT")
    assert failed["event_type"] == "MESSAGE_FAILED"
    assert "failed" in failed["description"]
    # A refused send has no message id: no messageId, and an id from its execution.
    assert "messageId" not in failed["metadata"]
    assert failed["metadata"]["campaignId"] == "spring-roofing"
    assert failed["id"] == expected_id(failed, 0)
    assert {r["source"] for r in rows} == {f"n8n:{SMS_TEST_WORKFLOW}"}
