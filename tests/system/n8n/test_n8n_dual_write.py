"""One message, one identity, end to end, during the dual-write period.

The shipped SMS scheduler, SimpleTexting delivery and inbound templates run on a real n8n
that has only the API key credential (no database credential at all), against the stand-in
SimpleTexting: six messages of one campaign, five delivered, one not, one reply. Beside
them, the client's production workflows write the old Airtable SMS_Audit table, where
"Campaign ID" is SimpleTexting's message id: a "Sent" row per send and a "Delivery" row per
report (one of them without its Lead Record ID, as when that workflow's lookup failed).
Reconcile finds the two sides equal, the backfill of the same rows adds nothing, the
analytics count the campaign right, and a report for a phone no lead has yet waits in the
retry queue until the lead sync brings that lead.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import orjson
import pytest
import pytest_asyncio
from fake_simpletexting import FakeSimpleTexting
from n8n_flows import activity_log, post_webhook, retry_rows, stored, wait_stored
from n8n_support import SMS_TEST_WORKFLOW, N8nHarness, n8n_log, payload
from n8n_support import n8n_harness as n8n_harness_for

from activitylog.contract.identity import message_fact_id
from activitylog.runtime.settings import Settings
from activitylog.storage import api_keys
from activitylog.use_cases.access.keys import Role, generate_key, hash_key, key_prefix
from activitylog_testing.polling import wait_for
from activitylog_testing.sms_audit import HEADER, airtable_csv
from cli_invoke import invoke

if TYPE_CHECKING:
    from conftest import Infra

CAMPAIGN = "spring-roofing-2026"
PROVIDER = "simpletexting"


@dataclass(frozen=True)
class Lead:
    airtable_id: str
    first_name: str
    phone: str  # 10 digits, as the production workflows write it
    carrier: str
    delivered: bool
    audit_lead_blank: bool = False  # the Delivery row whose lead lookup failed


LEADS = [
    Lead("recDualWrite0001", "Ann", "4085550001", "Verizon", True),
    Lead("recDualWrite0002", "Bo", "4085550002", "AT&T", True),
    Lead("recDualWrite0003", "Cy", "4085550003", "T-Mobile", True, audit_lead_blank=True),
    Lead("recDualWrite0004", "Di", "4085550004", "Verizon", True),
    Lead("recDualWrite0005", "Ed", "4085550005", "AT&T", True),
    Lead("recDualWrite0006", "Flo", "4085550006", "T-Mobile", False),
]
REPLY = "Yes, Thursday afternoon works for me"
# A phone no lead has when its report arrives, and the lead the sync brings later.
LATE_LEAD = Lead("recDualWrite0007", "Gus", "4085559999", "Verizon", True)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def n8n_harness(
    n8n_binary: Path, infra: Infra, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[N8nHarness]:
    """This module's n8n has no PostgreSQL credential: the basic path needs the API key
    (and the SimpleTexting token to send) only."""
    async with n8n_harness_for(
        infra.admin_url,
        infra.database_url,
        tmp_path_factory.mktemp("n8n-api-key-only"),
        n8n_log("n8n-dual-write.log"),
        fallback=False,
    ) as harness:
        yield harness


def airtable_time(at: datetime) -> str:
    """A date-time cell as an Airtable CSV export writes it (the base's display format)."""
    hour = at.hour % 12 or 12
    return f"{at.month}/{at.day}/{at.year} {hour}:{at.minute:02d}{'am' if at.hour < 12 else 'pm'}"


def iso_ms(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def object_id() -> str:
    """An id shaped like SimpleTexting's (a MongoDB ObjectId: 24 hex digits)."""
    return secrets.token_hex(12)


def delivery_report(message_id: str, phone: str, carrier: str, delivered: bool) -> dict[str, Any]:
    """SimpleTexting's DELIVERY_REPORT / NON_DELIVERED_REPORT for one message."""
    report = copy.deepcopy(payload("simpletexting-delivery-report.json"))
    report["reportId"] = object_id()
    report["type"] = "DELIVERY_REPORT" if delivered else "NON_DELIVERED_REPORT"
    report["values"].update(messageId=message_id, contactPhone=phone, carrier=carrier)
    return report


def sent_row(lead: Lead, message_id: str, text: str, at: datetime) -> tuple[str, ...]:
    """The row the production scheduler's *Audit Sent* node writes for one send."""
    return (
        "",  # a plain export has no record id column
        "Sent",
        message_id,
        lead.phone,
        "Sent",
        "",
        lead.airtable_id,
        text,
        airtable_time(at),
        "",
        "",
        "",
        "",
    )


def delivery_row(lead: Lead, message_id: str, at: datetime) -> tuple[str, ...]:
    """The row the production delivery workflow's *Write Audit Row* node writes: its own,
    with the output of its *Parse Delivery* node as Webhook Raw."""
    status = "Delivered" if lead.delivered else "Undelivered"
    parsed = {
        "campaign_id": message_id,
        "phone_digits": lead.phone,
        "carrier": lead.carrier,
        "delivery_status": status,
    }
    return (
        "",
        "Delivery",
        message_id,
        lead.phone,
        status,
        lead.carrier,
        "" if lead.audit_lead_blank else lead.airtable_id,
        "",
        "",
        airtable_time(at),
        json.dumps(parsed, separators=(",", ":")),
        "",
        "",
    )


async def admin_key(pool: asyncpg.Pool) -> str:
    key = generate_key()
    async with pool.acquire() as conn:
        await api_keys.create(
            conn,
            name="analyst",
            role=str(Role.ADMIN),
            client_id=None,
            key_hash=hash_key(key),
            key_prefix=key_prefix(key),
        )
    return key


async def sync_lead(http: httpx.AsyncClient, lead: Lead) -> None:
    """The lead sync's upsert (PUT /api/internal/leads/{airtableId}), with the portal's
    E.164 phone."""
    response = await http.put(
        f"/api/internal/leads/{lead.airtable_id}",
        json={"firstName": lead.first_name, "lastName": "Lead", "phone": f"+1{lead.phone}"},
    )
    assert response.status_code in (200, 201), response.text


async def enrol(http: httpx.AsyncClient, leads: list[Lead]) -> None:
    """The portal enrols the leads in the campaign (the funnel's first step)."""
    response = await http.post(
        "/api/internal/log-activity",
        json=[
            {
                "eventType": "CAMPAIGN_ENROLLED",
                "leadAirtableId": lead.airtable_id,
                "description": f"Enrolled in {CAMPAIGN}",
                "metadata": {"campaignId": CAMPAIGN},
                "source": "ui:campaign-enrol",
                "timestamp": iso_ms(datetime.now(UTC)),
            }
            for lead in leads
        ],
    )
    assert response.status_code in (201, 202), response.text


async def events_count(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM lead_activity_log")
    return count


async def test_the_same_six_messages_seen_by_n8n_and_by_sms_audit_are_one_history(
    n8n: N8nHarness, n8n_settings: Settings, pool: asyncpg.Pool, tmp_path: Path, artifacts: Path
) -> None:
    analyst = await admin_key(pool)
    texts = {lead.airtable_id: f"Hi {lead.first_name}, your roof quote is ready" for lead in LEADS}
    audit: list[tuple[str, ...]] = []
    times: list[datetime] = []
    async with (
        FakeSimpleTexting() as simpletexting,
        activity_log(n8n_settings, retry=True) as api,
        api.client(n8n.api_key) as ingest,
        api.client(analyst) as reader,
    ):
        for lead in LEADS:
            await sync_lead(ingest, lead)
        await enrol(ingest, LEADS)

        # The scheduler sends the six messages of the campaign.
        due = [
            {
                "leadAirtableId": lead.airtable_id,
                "phone": lead.phone,
                "text": texts[lead.airtable_id],
                "campaignId": CAMPAIGN,
            }
            for lead in LEADS
        ]
        code = await n8n.server.execute(
            SMS_TEST_WORKFLOW,
            SIMPLETEXTING_API_URL=simpletexting.url,
            TEST_MESSAGES_DUE=orjson.dumps(due).decode(),
        )
        assert code == 0, f"n8n execute exited {code}; see {n8n.server.config.log_path}"
        sent_at = datetime.now(UTC)  # the production scheduler's $now in *Audit Sent*
        times.append(sent_at)
        message_ids = {lead.airtable_id: simpletexting.message_id_to(lead.phone) for lead in LEADS}
        for lead in LEADS:
            mid = message_ids[lead.airtable_id]
            audit.append(sent_row(lead, mid, texts[lead.airtable_id], sent_at))

        # SimpleTexting reports on each message; the production workflow writes its row.
        for lead in LEADS:
            mid = message_ids[lead.airtable_id]
            report = delivery_report(mid, lead.phone, lead.carrier, lead.delivered)
            await post_webhook(n8n, "simpletexting-delivery", report)
            delivered_at = datetime.now(UTC)
            times.append(delivered_at)
            audit.append(delivery_row(lead, mid, delivered_at))

        # The first lead answers.
        reply = copy.deepcopy(payload("simpletexting-inbound-message.json"))
        reply["reportId"] = object_id()
        reply["values"].update(
            messageId=object_id(),
            text=REPLY,
            contactPhone=LEADS[0].phone,
            timestamp=iso_ms(datetime.now(UTC)),
        )
        await post_webhook(n8n, "simpletexting-inbound", reply)

        # 6 enrolments, 6 sends, 6 delivery results, 1 reply.
        rows = await wait_stored(pool, 19, "the campaign's events from n8n")
        assert len(rows) == 19
        by_type: dict[str, list[asyncpg.Record]] = {}
        for row in rows:
            by_type.setdefault(row["event_type"], []).append(row)
        assert {t: len(r) for t, r in by_type.items()} == {
            "CAMPAIGN_ENROLLED": 6,
            "MESSAGE_SENT": 6,
            "MESSAGE_DELIVERED": 5,
            "MESSAGE_FAILED": 1,
            "INBOUND_REPLY": 1,
        }
        lead_of_message = {mid: lead for lead, mid in message_ids.items()}
        for row in rows:
            meta = row["metadata"]
            if row["event_type"] == "CAMPAIGN_ENROLLED":
                continue
            if row["event_type"] == "INBOUND_REPLY":
                assert row["lead_airtable_id"] == LEADS[0].airtable_id
                assert row["message_content"] == REPLY
                continue
            # Every SMS fact is named by its message: its id, its lead, its campaign.
            assert meta["provider"] == PROVIDER
            assert row["id"] == message_fact_id(PROVIDER, meta["messageId"], row["event_type"])
            assert row["lead_airtable_id"] == lead_of_message[meta["messageId"]]
            assert meta["campaignId"] == CAMPAIGN
            assert meta["phone"] == "+1" + next(
                lead.phone for lead in LEADS if lead.airtable_id == row["lead_airtable_id"]
            )
        failed = by_type["MESSAGE_FAILED"][0]
        assert failed["lead_airtable_id"] == "recDualWrite0006"
        assert failed["metadata"]["carrier"] == "T-Mobile"

        # The old table, exported as Airtable does.
        export = tmp_path / "SMS_Audit.csv"
        export.write_bytes(airtable_csv(audit))
        assert next(csv.reader(io.StringIO(export.read_text("utf-8-sig")))) == HEADER
        first = min(times).date().isoformat()
        last = max(times).date().isoformat()

        reconcile = await invoke(
            n8n_settings,
            "reconcile",
            "sms-audit",
            str(export),
            "--from",
            first,
            "--to",
            last,
            "--tz",
            "UTC",
            "--json",
        )
        assert reconcile.exit_code == 0, reconcile.output
        report = json.loads(reconcile.stdout)
        assert report["unmatched"] == 0, report
        assert (report["missingInLog"], report["missingInAirtable"]) == ([], [])
        assert report["totals"]["airtable"] == report["totals"]["log"] == 12
        assert report["unreadable"] == 0

        before = await events_count(pool)
        backfill = await invoke(
            n8n_settings, "backfill", "sms-audit", str(export), "--tz", "UTC", "--json"
        )
        assert backfill.exit_code == 0, backfill.output
        summary = json.loads(backfill.stdout)
        assert summary["events"] == 12
        assert sum(summary["written"].values()) == 0, summary
        assert summary["duplicates"] == 12
        assert summary["refused"] == 0
        assert summary["skipped"] == {}
        assert await events_count(pool) == before
        # What an operator sees (docs/RUNBOOK.md §15 quotes it), kept with the run.
        for name, args in (
            ("reconcile.txt", ["reconcile", "sms-audit", str(export), "--from", first,
                               "--to", last, "--tz", "UTC"]),
            ("backfill.txt", ["backfill", "sms-audit", str(export), "--tz", "UTC"]),
        ):  # fmt: skip
            shown = await invoke(n8n_settings, *args)
            assert shown.exit_code == 0, shown.output
            (artifacts / name).write_text(shown.stdout)

        # The analytics fold the log in about a second after it is stored.
        async def delivery_counted() -> dict[str, Any] | None:
            answer = await reader.get("/api/analytics/delivery", params={"campaign": CAMPAIGN})
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            overall = body["overall"]
            return body if (overall["delivered"], overall["failed"]) == (5, 1) else None

        delivery = await wait_for(delivery_counted, timeout=30, message="delivery analytics")
        overall = delivery["overall"]
        assert (overall["sent"], overall["delivered"], overall["failed"]) == (6, 5, 1)

        async def funnel_counted() -> dict[str, Any] | None:
            funnel = await reader.get("/api/analytics/funnel", params={"campaign": CAMPAIGN})
            assert funnel.status_code == 200, funnel.text
            body: dict[str, Any] = funnel.json()
            return (
                body if any(s["step"] == "replied" and s["leads"] for s in body["steps"]) else None
            )

        funnel = await wait_for(funnel_counted, timeout=30, message="the reply in the funnel")
        steps = {s["step"]: s["leads"] for s in funnel["steps"]}
        # The answers an operator gets (docs/RUNBOOK.md §15 quotes them), kept with the run.
        for name, answer in (
            ("analytics-delivery.json", delivery),
            ("analytics-funnel.json", funnel),
        ):
            (artifacts / name).write_text(json.dumps(answer, indent=2))
        assert (steps["enrolled"], steps["sent"], steps["delivered"]) == (6, 6, 5)
        assert steps["replied"] == 1

        assert await retry_rows(pool) == []  # nothing of the campaign waited

        # A report for a phone no lead has yet (and a send the log never saw): not dropped,
        # it waits in the retry queue, naming the phone, until the lead sync brings the lead.
        late_id = object_id()
        late = delivery_report(late_id, LATE_LEAD.phone, LATE_LEAD.carrier, True)
        await post_webhook(n8n, "simpletexting-delivery", late)

        async def waiting() -> asyncpg.Record | None:
            return next(
                (r for r in await retry_rows(pool) if "+14085559999" in (r["last_error"] or "")),
                None,
            )

        row = await wait_for(waiting, timeout=30, message="the report waiting for its lead")
        assert row["status"] == "pending", row
        assert orjson.loads(row["payload"])["leadPhone"].endswith("4085559999")

        await sync_lead(ingest, LATE_LEAD)

        async def placed() -> list[asyncpg.Record] | None:
            rows = [r for r in await stored(pool) if r["lead_airtable_id"] == LATE_LEAD.airtable_id]
            return rows or None

        (event,) = await wait_for(placed, timeout=30, message="the report stored on its lead")
        assert event["event_type"] == "MESSAGE_DELIVERED"
        assert event["id"] == message_fact_id(PROVIDER, late_id, "MESSAGE_DELIVERED")

        async def resolved() -> bool:
            return [r["status"] for r in await retry_rows(pool)] == ["resolved"]

        await wait_for(resolved, timeout=30, message="the retry row resolved")
    assert len(simpletexting.sent) == len(LEADS)
