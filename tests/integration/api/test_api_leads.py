"""PUT /api/internal/leads/{airtableId}: create, fill a stub, partial updates, bad input, moving
a lead to another client, and what a portal key sees of another client's lead."""

from __future__ import annotations

import functools
import uuid

from activitylog_ingest.service import run_ingest
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import running
from api_support import event_row, insert_rows
from support import event

BROWSER = "/api/admin/activity-logs"

LEAD_FIELDS = {
    "id",
    "airtableId",
    "clientId",
    "firstName",
    "lastName",
    "email",
    "phone",
    "status",
    "lastActivityAt",
    "createdAt",
    "updatedAt",
}


def _url(airtable_id: str) -> str:
    return f"/api/internal/leads/{airtable_id}"


async def test_create_then_update_only_what_is_sent(api, ingest_key) -> None:
    client = str(uuid.uuid4())
    async with api.client(ingest_key) as http:
        created = await http.put(
            _url("recNewLead01"),
            json={"clientId": client, "firstName": "Ana", "lastName": "Lopez", "phone": "+1555"},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert set(body) == {"success", "created", "lead"}
        assert body["created"] is True
        assert set(body["lead"]) == LEAD_FIELDS
        assert body["lead"]["airtableId"] == "recNewLead01"
        assert body["lead"]["clientId"] == client
        updated = await http.put(
            _url("recNewLead01"), json={"email": "ana@example.com", "status": "qualified"}
        )
    assert updated.status_code == 200
    lead = updated.json()["lead"]
    assert updated.json()["created"] is False
    assert lead["id"] == body["lead"]["id"]
    assert (lead["firstName"], lead["lastName"], lead["phone"]) == ("Ana", "Lopez", "+1555")
    assert (lead["email"], lead["status"]) == ("ana@example.com", "qualified")


async def test_fills_in_a_stub_lead_and_its_events_client(api, pool, ingest_key) -> None:
    async with (
        api.client(ingest_key) as http,
        running(functools.partial(run_ingest, api.settings)),
    ):
        posted = await http.post(
            "/api/internal/log-activity", json=event(7, leadAirtableId="recStubLead1")
        )
        assert posted.status_code == 202
        await wait_for(
            lambda: pool.fetchval("SELECT count(*) FROM lead_activity_log"), message="the event"
        )
    stub = await pool.fetchrow("SELECT * FROM leads WHERE airtable_record_id = 'recStubLead1'")
    assert (stub["first_name"], stub["client_id"]) == ("", None)

    client_id = uuid.uuid4()
    async with api.client(ingest_key) as http:
        filled = await http.put(
            _url("recStubLead1"),
            json={"clientId": str(client_id), "firstName": "Sam", "lastName": "Reed"},
        )
    assert filled.status_code == 200
    assert filled.json()["lead"]["id"] == str(stub["id"])
    assert filled.json()["lead"]["firstName"] == "Sam"
    assert filled.json()["lead"]["lastActivityAt"] is not None
    # Events stored for the stub now belong to its client (portal keys find them).
    assert await pool.fetchval("SELECT client_id FROM lead_activity_log") == client_id


async def test_bad_input_is_400(api, admin_key, make_key) -> None:
    cases = [
        ("recOkLead001", b"{not json", "not valid JSON"),
        ("recOkLead001", b"[1, 2]", "must be a JSON object"),
        ("recOkLead001", b'{"fristName": "typo"}', "fristName"),
        ("recOkLead001", b'{"clientId": "nope"}', "clientId"),
        ("recOkLead001", b'{"firstName": "a\\u0000b"}', "NUL"),
        ("recOkLead001", b'{"airtableId": "recOther0001"}', "airtableId"),
        ("notAnAirtableId", b"{}", "airtableId"),
        # A final newline is not part of a record id (Python's `$` alone would allow it).
        ("recOkLead001%0A", b"{}", "airtableId"),
    ]
    async with api.client(admin_key) as http:
        for airtable_id, content, expect in cases:
            response = await http.put(_url(airtable_id), content=content)
            assert response.status_code == 400, (content, response.text)
            assert expect in response.text, (content, response.text)
        too_big = await http.put(_url("recOkLead001"), content=b" " * (70 * 1024))
        assert too_big.status_code == 413
    portal = await make_key("portal", client_id=uuid.uuid4())
    async with api.client(portal) as http:
        assert (await http.put(_url("recOkLead001"), json={})).status_code == 403


async def test_moving_a_lead_moves_its_whole_history(api, pool, ingest_key, make_key) -> None:
    client_a, client_b = uuid.uuid4(), uuid.uuid4()
    async with api.client(ingest_key) as http:
        created = await http.put(
            _url("recMovingLd01"), json={"clientId": str(client_a), "firstName": "Mo"}
        )
    lead = uuid.UUID(created.json()["lead"]["id"])
    # Under A, and one stored while the lead was a stub without a client.
    await insert_rows(
        pool,
        [event_row(lead, airtable_id="recMovingLd01", client_id=client_a) for _ in range(3)]
        + [event_row(lead, airtable_id="recMovingLd01", client_id=None)],
    )

    async with api.client(ingest_key) as http:
        moved = await http.put(_url("recMovingLd01"), json={"clientId": str(client_b)})
    assert moved.status_code == 200, moved.text

    clients = await pool.fetch("SELECT client_id FROM lead_activity_log WHERE lead_id = $1", lead)
    assert [r["client_id"] for r in clients] == [client_b] * 4
    portal_a = await make_key("portal", client_id=client_a)
    portal_b = await make_key("portal", client_id=client_b)
    async with api.client(portal_a) as http:
        assert (await http.get(BROWSER)).json()["activities"] == []
        assert (await http.get(f"/api/leads/{lead}/activity")).status_code == 404
    async with api.client(portal_b) as http:
        assert len((await http.get(BROWSER)).json()["activities"]) == 4
        assert len((await http.get(f"/api/leads/{lead}/activity")).json()["timeline"]) == 4


async def test_a_portal_key_never_sees_another_clients_lead(
    api, pool, ingest_key, make_key
) -> None:
    # The finding: an event for B's lead carrying A's clientId was filed under A, so A's
    # portal key read B's lead (name, email) through the browser, its search and export.
    client_a, client_b = uuid.uuid4(), uuid.uuid4()
    secrets = ("Bianca", "Confidential", "bianca@client-b.example", "recLeadOfB001")
    async with api.client(ingest_key) as http:
        for airtable_id, details in (
            (
                "recLeadOfB001",
                {
                    "clientId": str(client_b),
                    "firstName": "Bianca",
                    "lastName": "Confidential",
                    "email": secrets[2],
                },
            ),
            ("recLeadOfA001", {"clientId": str(client_a), "firstName": "Alan"}),
        ):
            assert (await http.put(_url(airtable_id), json=details)).status_code == 201
    async with (
        api.client(ingest_key) as http,
        running(functools.partial(run_ingest, api.settings)),
    ):
        spoofed = event(1, leadAirtableId="recLeadOfB001", clientId=str(client_a))
        own = event(2, leadAirtableId="recLeadOfA001", clientId=str(client_a))
        assert (
            await http.post("/api/internal/log-activity", json=[spoofed, own])
        ).status_code == 202

        async def settled() -> bool:
            stored = await pool.fetchval("SELECT count(*) FROM lead_activity_log")
            letters = await pool.fetchval("SELECT count(*) FROM retry_queue")
            return bool(stored == 1 and letters == 1)

        await wait_for(settled, message="one event stored and one dead letter")

    letter = await pool.fetchrow("SELECT status, lead_id, last_error FROM retry_queue")
    assert (letter["status"], letter["lead_id"]) == ("dead", "recLeadOfB001")
    assert letter["last_error"] == (
        f"clientId {client_a} contradicts lead recLeadOfB001, which belongs to client {client_b}"
    )
    portal_a = await make_key("portal", client_id=client_a)
    async with api.client(portal_a) as http:
        page = await http.get(BROWSER)
        assert [a["leadAirtableId"] for a in page.json()["activities"]] == ["recLeadOfA001"]
        for text in (*secrets, "SMS 1 sent"):
            found = await http.get(BROWSER, params={"search": text})
            assert found.json()["activities"] == [], text
        assert (await http.get(f"{BROWSER}/counts")).json()["all"] == 1
        export = await http.get(f"{BROWSER}/export.csv")
        assert export.status_code == 200
        assert "recLeadOfA001" in export.text
        for text in secrets:
            assert text not in export.text
        assert (await http.get("/api/leads/recLeadOfB001/activity")).status_code == 404
