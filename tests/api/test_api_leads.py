"""PUT /api/internal/leads/{airtableId}: create, fill a stub, partial updates, bad input."""

from __future__ import annotations

import functools
import uuid

from activitylog_ingest.service import run_ingest
from support import event, running, wait_for

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
