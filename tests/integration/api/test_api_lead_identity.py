"""One lead, one identity, through the HTTP API: the portal's UUID becomes the lead's id (a
stub adopts it, two leads merge, a clash is a 409), events carrying both references are
stored, the timeline/browser/lead page answer to the UUID, and the bulk upsert."""

from __future__ import annotations

import functools
import uuid

import asyncpg
import httpx

from activitylog_ingest.service import run_ingest
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import running
from api_support import sign_in_ui
from support import event


async def _post_events(api, pool: asyncpg.Pool, key: str, bodies: list[dict]) -> None:
    """Post events and wait until the ingest worker stored them all."""
    before = await pool.fetchval("SELECT count(*) FROM lead_activity_log")
    async with api.client(key) as http, running(functools.partial(run_ingest, api.settings)):
        for body in bodies:
            posted = await http.post("/api/internal/log-activity", json=body)
            assert posted.status_code == 202, posted.text

        async def stored() -> bool:
            count = await pool.fetchval("SELECT count(*) FROM lead_activity_log")
            return count == before + len(bodies)

        await wait_for(stored, message="the events stored")


async def _history(pool: asyncpg.Pool) -> dict[uuid.UUID, uuid.UUID]:
    """Every event id → its lead id."""
    return dict(await pool.fetch("SELECT id, lead_id FROM lead_activity_log"))


async def test_an_event_with_both_references_is_stored_not_dead_lettered(
    api, pool, ingest_key, admin_key
) -> None:
    portal_id = uuid.uuid4()
    other_portal_id = uuid.uuid4()
    await _post_events(
        api,
        pool,
        ingest_key,
        [
            event(1, leadId=str(portal_id), leadAirtableId="recBothRefs01"),
            # Another unknown UUID with the same Airtable id: the lead that id names.
            event(2, leadId=str(other_portal_id), leadAirtableId="recBothRefs01"),
        ],
    )
    assert await pool.fetchval("SELECT count(*) FROM retry_queue") == 0
    lead = await pool.fetchrow("SELECT id, airtable_record_id FROM leads")
    assert (lead["id"], lead["airtable_record_id"]) == (portal_id, "recBothRefs01")
    assert set((await _history(pool)).values()) == {portal_id}

    # The timeline, the browser's leadId filter and the lead page answer to the UUID.
    async with api.client(admin_key) as http:
        timeline = await http.get(f"/api/leads/{portal_id}/activity")
        assert timeline.status_code == 200, timeline.text
        assert len(timeline.json()["timeline"]) == 2
        browsed = await http.get("/api/admin/activity-logs", params={"leadId": str(portal_id)})
        assert len(browsed.json()["activities"]) == 2
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as ui:
        await sign_in_ui(pool, ui)
        page = await ui.get(f"/admin/leads/{portal_id}")
        assert page.status_code == 200
        assert "recBothRefs01" in page.text


async def test_a_stub_adopts_the_portal_uuid_with_its_events(
    api, pool, ingest_key, admin_key
) -> None:
    await _post_events(
        api, pool, ingest_key, [event(n, leadAirtableId="recAdopting1") for n in range(3)]
    )
    stub_id = await pool.fetchval("SELECT id FROM leads")
    before = await _history(pool)
    assert set(before.values()) == {stub_id}

    portal_id, client = uuid.uuid4(), uuid.uuid4()
    async with api.client(ingest_key) as http:
        put = await http.put(
            "/api/internal/leads/recAdopting1",
            json={"id": str(portal_id), "clientId": str(client), "firstName": "Ada"},
        )
        assert put.status_code == 200, put.text
        assert put.json()["lead"]["id"] == str(portal_id)
        again = await http.put(
            "/api/internal/leads/recAdopting1", json={"id": str(portal_id), "firstName": "Ada"}
        )
        assert (again.status_code, again.json()["lead"]["id"]) == (200, str(portal_id))
    async with api.client(admin_key) as http:
        timeline = await http.get(f"/api/leads/{portal_id}/activity")
    # Same events, none lost or doubled, every one under the new id and the client.
    assert await _history(pool) == {event_id: portal_id for event_id in before}
    assert await pool.fetchval("SELECT count(*) FROM leads") == 1
    assert await pool.fetchval("SELECT count(*) FROM leads WHERE id = $1", stub_id) == 0
    assert {
        r["client_id"] for r in await pool.fetch("SELECT client_id FROM lead_activity_log")
    } == {client}
    assert len(timeline.json()["timeline"]) == 3


async def test_two_leads_merge_into_the_portal_uuid(api, pool, ingest_key) -> None:
    portal_id = uuid.uuid4()
    async with api.client(ingest_key) as http:
        # The portal's lead before it had an Airtable record: known by its UUID alone.
        bulk = await http.put(
            "/api/internal/leads", json=[{"id": str(portal_id), "email": "kim@example.com"}]
        )
        assert bulk.json()["items"][0]["status"] == 201, bulk.text
    await _post_events(
        api,
        pool,
        ingest_key,
        [event(1, leadId=str(portal_id), leadAirtableId=None)]
        + [event(n, leadAirtableId="recMergeMe01") for n in (2, 3)],
    )
    stub_id = await pool.fetchval("SELECT id FROM leads WHERE airtable_record_id = 'recMergeMe01'")
    assert stub_id != portal_id
    events = await _history(pool)
    assert len(events) == 3

    async with api.client(ingest_key) as http:
        merged = await http.put(
            "/api/internal/leads/recMergeMe01", json={"id": str(portal_id), "firstName": "Kim"}
        )
    assert merged.status_code == 200, merged.text
    lead = merged.json()["lead"]
    assert (lead["id"], lead["airtableId"]) == (str(portal_id), "recMergeMe01")
    assert (lead["firstName"], lead["email"]) == ("Kim", "kim@example.com")
    assert await pool.fetchval("SELECT count(*) FROM leads") == 1
    assert await _history(pool) == {event_id: portal_id for event_id in events}


async def test_a_uuid_of_another_airtable_id_is_a_409_naming_both(api, pool, ingest_key) -> None:
    portal_id = uuid.uuid4()
    async with api.client(ingest_key) as http:
        first = await http.put("/api/internal/leads/recOwnerLd01", json={"id": str(portal_id)})
        assert first.status_code == 201, first.text
        clash = await http.put("/api/internal/leads/recIntruder1", json={"id": str(portal_id)})
    assert clash.status_code == 409, clash.text
    body = clash.json()
    assert body["success"] is False
    assert str(portal_id) in body["error"]
    assert "recOwnerLd01" in body["error"]
    assert "recIntruder1" in body["error"]
    assert await pool.fetchval("SELECT count(*) FROM leads") == 1


async def test_bulk_upsert_answers_per_item_and_is_idempotent(api, pool, ingest_key) -> None:
    owner = uuid.uuid4()
    async with api.client(ingest_key) as http:
        await http.put("/api/internal/leads/recBulkOwner", json={"id": str(owner)})
        items = [
            {"airtableId": "recBulkNew01", "id": str(uuid.uuid4()), "firstName": "A"},
            {"airtableId": "recBulkNew02", "lastName": "B", "phone": "+1555"},
            {"airtableId": "recBulkOwner", "status": "won"},
            {"airtableId": "recBulkClash", "id": str(owner)},
            {"airtableId": "not-a-record"},
            {"firstName": "nobody"},
            {"airtableId": "recBulkNew01", "firstName": "twice"},
        ]
        first = await http.put("/api/internal/leads", json=items)
        again = await http.put("/api/internal/leads", json=items)
        too_many = await http.put("/api/internal/leads", json=[{"airtableId": "recX001"}] * 1001)
        not_array = await http.put("/api/internal/leads", json={"airtableId": "recX001"})
    assert first.status_code == 200, first.text
    statuses = [item["status"] for item in first.json()["items"]]
    assert statuses == [201, 201, 200, 409, 400, 400, 400]
    assert [i["index"] for i in first.json()["items"]] == list(range(7))
    assert "airtableId" in first.json()["items"][4]["error"]
    assert [item["status"] for item in again.json()["items"]] == [200, 200, 200, 409, 400, 400, 400]
    leads = {
        r["airtable_record_id"]: r
        for r in await pool.fetch("SELECT * FROM leads ORDER BY airtable_record_id")
    }
    assert set(leads) == {"recBulkNew01", "recBulkNew02", "recBulkOwner"}
    assert str(leads["recBulkNew01"]["id"]) == items[0]["id"]
    assert leads["recBulkNew01"]["first_name"] == "A"
    assert (leads["recBulkNew02"]["last_name"], leads["recBulkNew02"]["phone"]) == ("B", "+1555")
    assert leads["recBulkOwner"]["status"] == "won"
    assert too_many.status_code == 400
    assert not_array.status_code == 400
