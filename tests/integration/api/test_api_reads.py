"""The reads as one: who did it (`createdBy`, returned and filtered on every read), the names
the PRD uses (`eventCategory`), unknown parameters refused, one spelling of an event, and
GET /api/leads/{id} (the lead, its last activity and its counts, client-scoped)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from activitylog.domain.dead_letters import DeadLetter, RetryStatus
from activitylog.domain.reads.cursor import encode_cursor
from activitylog.storage import retry_queue
from activitylog_testing.leads import add_lead
from api_support import event_row, insert_rows

BROWSER = "/api/admin/activity-logs"
USER = uuid.UUID("6f1c2a52-0d5e-4a57-9a51-5b2f3c4d5e6f")
OTHER_USER = uuid.UUID("0b8e7d6c-5a4f-4e3d-8c2b-1a0f9e8d7c6b")
T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
# The one spelling of a stored event, on every read.
EVENT_FIELDS = {
    "id",
    "timestamp",
    "eventType",
    "category",
    "description",
    "messageContent",
    "metadata",
    "source",
    "executionId",
    "createdBy",
    "leadId",
    "leadAirtableId",
    "clientId",
    "createdAt",
}


async def _seed(pool) -> dict:
    """Two clients' leads; a note by USER, a note by OTHER_USER, an SMS by nobody, a booking."""
    client_a, client_b = uuid.uuid4(), uuid.uuid4()
    ana = await add_lead(pool, "recReadsAna01", "Ana", "Lopez", client_id=client_a)
    bob = await add_lead(pool, "recReadsBob01", "Bob", "Stone", client_id=client_b)
    rows = [
        event_row(ana, airtable_id="recReadsAna01", client_id=client_a, timestamp=T0),
        event_row(
            ana,
            airtable_id="recReadsAna01",
            client_id=client_a,
            event_type="NOTE_ADDED",
            category="MANUAL",
            description="Called back",
            message=None,
            metadata={"note": "warm"},
            source="ui:add-note",
            timestamp=T0 + timedelta(hours=1),
        ),
        event_row(
            ana,
            airtable_id="recReadsAna01",
            client_id=client_a,
            event_type="BOOKING_CONFIRMED",
            category="BOOKING",
            description="Booked",
            timestamp=T0 + timedelta(hours=2),
        ),
        event_row(
            bob,
            airtable_id="recReadsBob01",
            client_id=client_b,
            event_type="NOTE_ADDED",
            category="MANUAL",
            description="Left a voicemail",
            source="ui:add-note",
            timestamp=T0 + timedelta(hours=3),
        ),
    ]
    await insert_rows(pool, rows)
    by = {rows[1][0]: USER, rows[3][0]: OTHER_USER}
    async with pool.acquire() as conn:
        for event_id, user in by.items():
            await conn.execute(
                "UPDATE lead_activity_log SET created_by = $1 WHERE id = $2", user, event_id
            )
    note = rows[1][0]
    return {"a": client_a, "b": client_b, "ana": ana, "bob": bob, "note": note}


def _by_id(items: list[dict]) -> dict[str, dict]:
    return {item["id"]: item for item in items}


async def test_created_by_is_on_every_read(api, pool, admin_key) -> None:
    seeded = await _seed(pool)
    note = str(seeded["note"])
    async with api.client(admin_key) as http:
        timeline = (await http.get("/api/leads/recReadsAna01/activity")).json()["timeline"]
        browser = (await http.get(BROWSER)).json()["activities"]
        lead = (await http.get("/api/leads/recReadsAna01")).json()
        export = await http.get(f"{BROWSER}/export.csv", params={"leadAirtableId": "recReadsAna01"})
    assert _by_id(timeline)[note]["createdBy"] == str(USER)
    assert _by_id(browser)[note]["createdBy"] == str(USER)
    # One spelling: the timeline's items are the browser's events (less their lead), plus
    # the timeline's deprecated names for two of the fields.
    for item in timeline:
        assert set(item) == EVENT_FIELDS | {"message", "details"}
        assert item["message"] == item["messageContent"]
        assert item["details"] == item["metadata"]
        same = _by_id(browser)[item["id"]]
        assert {k: same[k] for k in EVENT_FIELDS} == {k: item[k] for k in EVENT_FIELDS}
    assert {None, str(USER)} == {i["createdBy"] for i in timeline}
    assert lead["lastActivity"]["createdBy"] is None  # the booking, newest
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["Created By"] for r in rows] == ["", str(USER), ""]


async def test_filter_by_who_did_it(api, pool, admin_key, make_key) -> None:
    seeded = await _seed(pool)
    async with api.client(admin_key) as http:
        by_user = (await http.get(BROWSER, params={"createdBy": str(USER)})).json()
        by_other = (await http.get(BROWSER, params={"createdBy": str(OTHER_USER)})).json()
        counts = (await http.get(f"{BROWSER}/counts", params={"createdBy": str(USER)})).json()
        timeline = await http.get(
            f"/api/leads/{seeded['ana']}/activity", params={"createdBy": str(USER)}
        )
        nobody = await http.get(
            "/api/leads/recReadsAna01/activity", params={"createdBy": str(OTHER_USER)}
        )
        export = await http.get(f"{BROWSER}/export.csv", params={"createdBy": str(USER)})
        for path in (BROWSER, "/api/leads/recReadsAna01/activity"):
            bad = await http.get(path, params={"createdBy": "someone"})
            assert bad.status_code == 400, bad.text
            assert [e["field"] for e in bad.json()["errors"]] == ["createdBy"]
    assert [a["description"] for a in by_user["activities"]] == ["Called back"]
    assert by_user["pagination"]["totalCount"] == 1
    assert [a["description"] for a in by_other["activities"]] == ["Left a voicemail"]
    assert counts["all"] == counts["MANUAL"] == 1
    assert counts["estimated"] is False
    assert [i["description"] for i in timeline.json()["timeline"]] == ["Called back"]
    assert nobody.json()["timeline"] == []
    assert len(list(csv.DictReader(io.StringIO(export.text)))) == 1
    # A portal key filters by author within its own client only.
    portal_b = await make_key("portal", client_id=seeded["b"])
    async with api.client(portal_b) as http:
        own = (await http.get(BROWSER, params={"createdBy": str(OTHER_USER)})).json()
        other = (await http.get(BROWSER, params={"createdBy": str(USER)})).json()
    assert [a["description"] for a in own["activities"]] == ["Left a voicemail"]
    assert other["activities"] == []


async def test_event_category_is_the_category_filter(api, pool, admin_key) -> None:
    await _seed(pool)

    async def descriptions(path: str, **params: str) -> list[str]:
        async with api.client(admin_key) as http:
            response = await http.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        return [i["description"] for i in body.get("activities", body.get("timeline", []))]

    timeline = "/api/leads/recReadsAna01/activity"
    for path in (BROWSER, timeline):
        by_name = await descriptions(path, category="BOOKING")
        assert by_name == await descriptions(path, eventCategory="BOOKING") == ["Booked"]
        assert await descriptions(path, eventCategory="booking,manual") == await descriptions(
            path, category="BOOKING,MANUAL"
        )
        # Both names given: either category matches.
        both = await descriptions(path, category="BOOKING", eventCategory="SMS")
        assert both == ["Booked", "SMS sent"]
    async with api.client(admin_key) as http:
        bad = await http.get(BROWSER, params={"eventCategory": "NOPE"})
        assert bad.status_code == 400
        assert [e["field"] for e in bad.json()["errors"]] == ["eventCategory"]
        assert "validCategories" in bad.json()


UNKNOWN = [
    (BROWSER, {"sort": "lead"}),
    (BROWSER, {"categroy": "SMS", "limit": "5"}),
    (f"{BROWSER}/counts", {"page": "2"}),
    (f"{BROWSER}/export.csv", {"format": "xlsx"}),
    ("/api/leads/recReadsAna01/activity", {"before": "2026-03-01"}),
    ("/api/leads/recReadsAna01", {"verbose": "1"}),
    ("/api/admin/retry-queue/", {"before": "5"}),
    ("/api/analytics/funnel", {"hours": "24"}),
    ("/api/analytics/replies.csv", {"campain": "c1"}),
]


@pytest.mark.parametrize(("path", "params"), UNKNOWN)
async def test_an_unknown_query_parameter_is_a_400_naming_it(
    api, pool, admin_key, path, params
) -> None:
    await add_lead(pool, "recReadsAna01")
    async with api.client(admin_key) as http:
        response = await http.get(path, params=params)
        assert response.status_code == 400, response.text
        body = response.json()
        unknown = [n for n in params if n not in ("limit",)]
        assert [e["field"] for e in body["errors"]] == unknown
        assert body["success"] is False
        assert f"unknown query parameter {unknown[0]}" in body["error"]
        # Without it, the same request is fine.
        known = {k: v for k, v in params.items() if k not in unknown}
        assert (await http.get(path, params=known)).status_code == 200


async def test_the_lead_with_its_last_activity_and_counts(api, pool, admin_key, make_key) -> None:
    seeded = await _seed(pool)
    async with api.client(admin_key) as http:
        by_airtable = await http.get("/api/leads/recReadsAna01")
        by_uuid = await http.get(f"/api/leads/{seeded['ana']}")
        missing = await http.get("/api/leads/recNoSuchLead1")
        not_a_reference = await http.get("/api/leads/nope")
    assert by_airtable.status_code == 200, by_airtable.text
    body = by_airtable.json()
    assert by_uuid.json() == body
    assert set(body) == {"lead", "lastActivity", "counts"}
    assert body["lead"] | {"createdAt": None, "updatedAt": None} == {
        "id": str(seeded["ana"]),
        "airtableId": "recReadsAna01",
        "clientId": str(seeded["a"]),
        "firstName": "Ana",
        "lastName": "Lopez",
        "email": None,
        "phone": None,
        "status": None,
        "displayName": "Ana Lopez",
        "lastActivityAt": None,  # COPY bypasses the write path, which keeps it
        "createdAt": None,
        "updatedAt": None,
    }
    last = body["lastActivity"]
    assert set(last) == EVENT_FIELDS
    assert (last["description"], last["timestamp"]) == ("Booked", "2026-03-01T11:00:00Z")
    assert body["counts"] == {
        "all": 3,
        "SMS": 1,
        "CAMPAIGN": 0,
        "BOOKING": 1,
        "MANUAL": 1,
        "CONVERSATION": 0,
        "SYSTEM": 0,
        "estimated": False,
    }
    assert missing.status_code == 404
    assert not_a_reference.status_code == 404
    # A portal key sees its own client's leads; another client's is a 404, as if missing.
    portal_a = await make_key("portal", client_id=seeded["a"])
    async with api.client(portal_a) as http:
        assert (await http.get("/api/leads/recReadsAna01")).status_code == 200
        other = await http.get("/api/leads/recReadsBob01")
        assert other.status_code == 404
        assert other.json()["error"] == "lead 'recReadsBob01' not found"
        assert (await http.get(f"/api/leads/{seeded['bob']}")).status_code == 404


async def test_a_lead_without_events_has_no_last_activity(api, pool, admin_key) -> None:
    await add_lead(pool, "recQuietLead1", "Quiet")
    async with api.client(admin_key) as http:
        body = (await http.get("/api/leads/recQuietLead1")).json()
    assert body["lastActivity"] is None
    assert body["counts"]["all"] == 0


async def test_the_ui_s_older_cursors_still_page_the_api(api, pool, admin_key) -> None:
    """One cursor dialect: a cursor of the admin UI's former spelling continues the same
    order on the JSON API (and the UI reads the API's)."""
    lead = await add_lead(pool, "recCursors001")
    stamps = [T0 + timedelta(minutes=i) for i in range(5)]
    rows = [event_row(lead, timestamp=t) for t in stamps]
    await insert_rows(pool, rows)
    newest_first = sorted(rows, key=lambda r: (r[-1], r[0]), reverse=True)
    third = newest_first[2]
    old = encode_cursor("ui-browse", [third[-1].isoformat(), str(third[0])])
    async with api.client(admin_key) as http:
        body = (await http.get(BROWSER, params={"cursor": old})).json()
        timeline = await http.get(
            "/api/leads/recCursors001/activity",
            params={"cursor": encode_cursor("ui-timeline", [third[-1].isoformat(), str(third[0])])},
        )
    assert [a["id"] for a in body["activities"]] == [str(r[0]) for r in newest_first[3:]]
    assert [i["id"] for i in timeline.json()["timeline"]] == [str(r[0]) for r in newest_first[3:]]


async def test_the_retry_queue_lists_unplaced_rows(api, pool, admin_key) -> None:
    async with pool.acquire() as conn:
        await retry_queue.add(
            conn,
            [
                DeadLetter(
                    "u-1",
                    None,
                    "{}",
                    "no lead with phone +14085550001",
                    RetryStatus.PENDING,
                    waiting_for=("phone:4085550001",),
                ),
                DeadLetter("d-1", None, "{", "payload: invalid JSON", RetryStatus.DEAD),
            ],
        )
    async with api.client(admin_key) as http:
        unplaced = (await http.get("/api/admin/retry-queue/", params={"status": "unplaced"})).json()
        every = (await http.get("/api/admin/retry-queue/", params={"limit": "1"})).json()
        rest = (
            await http.get(
                "/api/admin/retry-queue/", params={"cursor": every["pagination"]["nextCursor"]}
            )
        ).json()
    assert [r["queueId"] for r in unplaced["rows"]] == ["u-1"]
    newest_first = await pool.fetch("SELECT queue_id FROM retry_queue ORDER BY id DESC")
    assert [r["queueId"] for r in every["rows"] + rest["rows"]] == [
        r["queue_id"] for r in newest_first
    ]
    assert rest["pagination"]["nextCursor"] is None
