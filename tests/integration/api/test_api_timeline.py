"""GET /api/leads/{id}/activity: shape, keyset walk, filters, client scope, bad parameters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from activitylog_testing.leads import add_lead
from api_support import event_row, insert_rows, times

# The stored event as every read spells it, and this route's former names of two of its
# fields (deprecated, kept for older clients).
ITEM_FIELDS = {
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
    "message",
    "details",
}


def _url(ref: object) -> str:
    return f"/api/leads/{ref}/activity"


async def test_shape_and_both_kinds_of_id(api, pool, admin_key) -> None:
    lead = await add_lead(pool, "recShape0001")
    await insert_rows(
        pool,
        [
            event_row(
                lead,
                airtable_id="recShape0001",
                metadata={"campaign_id": "c1"},
                execution_id="e-1",
                timestamp=datetime(2026, 3, 1, 12, tzinfo=UTC),
            )
        ],
    )
    async with api.client(admin_key) as http:
        by_airtable = await http.get(_url("recShape0001"))
        by_uuid = await http.get(_url(lead))
    assert by_airtable.status_code == 200, by_airtable.text
    body = by_airtable.json()
    assert set(body) == {"timeline", "pagination"}
    assert body["pagination"] == {"limit": 100, "hasMore": False, "nextCursor": None}
    (item,) = body["timeline"]
    assert set(item) == ITEM_FIELDS
    assert item["timestamp"] == "2026-03-01T12:00:00Z"
    assert item["category"] == "SMS"
    assert item["message"] == item["messageContent"] == "hello"
    assert item["details"] == item["metadata"] == {"campaign_id": "c1"}
    assert item["createdBy"] is None
    assert item["leadId"] == str(lead)
    assert item["executionId"] == "e-1"
    assert by_uuid.json() == body


async def test_a_thousand_events_walked_with_cursors_each_once_in_order(
    api, pool, admin_key
) -> None:
    lead = await add_lead(pool, "recWalk00001")
    # 1,000 events on 100 distinct instants: ten share each timestamp (the id breaks ties).
    stamps = times(100)
    rows = [event_row(lead, timestamp=stamps[i % 100]) for i in range(1000)]
    await insert_rows(pool, rows)
    expected = sorted(((r[-1], r[0]) for r in rows), reverse=True)
    seen: list[str] = []
    cursor = None
    pages = 0
    async with api.client(admin_key) as http:
        while True:
            params = {"limit": 37} | ({"cursor": cursor} if cursor else {})
            body = (await http.get(_url(lead), params=params)).json()
            pages += 1
            seen.extend(item["id"] for item in body["timeline"])
            cursor = body["pagination"]["nextCursor"]
            assert body["pagination"]["hasMore"] == (cursor is not None)
            if cursor is None:
                break
    assert pages == 28  # ceil(1000 / 37)
    assert len(seen) == len(set(seen)) == 1000
    assert seen == [str(event_id) for _, event_id in expected]


async def test_filters(api, pool, admin_key) -> None:
    lead = await add_lead(pool, "recFilter001")
    day = datetime(2026, 3, 1, tzinfo=UTC)
    await insert_rows(
        pool,
        [
            event_row(lead, timestamp=day),
            event_row(
                lead,
                event_type="BOOKING_CONFIRMED",
                category="BOOKING",
                timestamp=day + timedelta(days=1),
            ),
            event_row(
                lead,
                event_type="NOTE_ADDED",
                category="MANUAL",
                timestamp=day + timedelta(days=2, hours=23),
            ),
        ],
    )

    async def types(**params: str) -> list[str]:
        async with api.client(admin_key) as http:
            response = await http.get(_url(lead), params=params)
        assert response.status_code == 200, response.text
        return [i["eventType"] for i in response.json()["timeline"]]

    assert await types(category="BOOKING") == ["BOOKING_CONFIRMED"]
    assert await types(category="sms,manual") == ["NOTE_ADDED", "MESSAGE_SENT"]
    assert await types(eventType="NOTE_ADDED") == ["NOTE_ADDED"]
    assert await types(dateFrom="2026-03-02") == ["NOTE_ADDED", "BOOKING_CONFIRMED"]
    # A bare dateTo covers its whole day.
    assert await types(dateTo="2026-03-03") == ["NOTE_ADDED", "BOOKING_CONFIRMED", "MESSAGE_SENT"]
    assert await types(dateFrom="2026-03-02T00:00:00Z", dateTo="2026-03-02T00:00:00Z") == [
        "BOOKING_CONFIRMED"
    ]


async def test_portal_keys_see_only_their_client(api, pool, make_key, ingest_key) -> None:
    client_a, client_b = uuid.uuid4(), uuid.uuid4()
    lead_a = await add_lead(pool, "recClientA01", client_id=client_a)
    lead_b = await add_lead(pool, "recClientB01", client_id=client_b)
    await insert_rows(pool, [event_row(lead_a), event_row(lead_b)])
    portal_a = await make_key("portal", client_id=client_a)
    async with api.client(portal_a) as http:
        assert (await http.get(_url("recClientA01"))).status_code == 200
        assert (await http.get(_url(lead_a))).status_code == 200
        other = await http.get(_url("recClientB01"))
        assert other.status_code == 404
        assert (await http.get(_url(lead_b))).status_code == 404
        missing = await http.get(_url("recNoSuchLead"))
        # The same answer as a lead that does not exist: nothing leaks across clients.
        assert other.json()["error"].replace("recClientB01", "X") == missing.json()[
            "error"
        ].replace("recNoSuchLead", "X")
    async with api.client(ingest_key) as http:
        response = await http.get(_url("recClientA01"))
        assert response.status_code == 403
        assert "ingest" in response.json()["error"]
    async with api.client(None) as http:
        assert (await http.get(_url("recClientA01"))).status_code == 401


BAD_PARAMETERS = [
    ({"limit": "501"}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"limit": "-5"}, "limit"),
    ({"limit": "10" * 20}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": "1e3"}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "eyJrIjoidGltZWxpbmUiLCJ2IjpbMSwyXX0"}, "cursor"),  # right kind, bad values
    ({"cursor": "A" * 5000}, "cursor"),
    ({"category": "SPAM"}, "category"),
    ({"eventType": "MESSAGE_SENT,NOPE"}, "eventType"),
    ({"dateFrom": "last tuesday"}, "dateFrom"),
    ({"dateFrom": "2026-03-05", "dateTo": "2026-03-01"}, "dateFrom"),
    ({"category": "SMS\x00"}, "category"),
]


async def test_bad_parameters_are_400_naming_the_field(api, pool, admin_key) -> None:
    await add_lead(pool, "recBadParam1")
    async with api.client(admin_key) as http:
        for params, field in BAD_PARAMETERS:
            response = await http.get(_url("recBadParam1"), params=params)
            assert response.status_code == 400, (params, response.text)
            body = response.json()
            assert body["success"] is False
            assert field in [e["field"] for e in body["errors"]], body


async def test_odd_ids_are_404_not_500(api, admin_key) -> None:
    async with api.client(admin_key) as http:
        for ref in ("'; DROP TABLE leads; --", "%00", "x" * 90, str(uuid.uuid4())):
            response = await http.get(_url(ref))
            assert response.status_code in (400, 404), (ref, response.text)
