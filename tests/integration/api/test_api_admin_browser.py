"""GET /api/admin/activity-logs and /counts: shapes, search, filters, paging, caps, scope."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from activitylog_testing.leads import add_lead
from api_support import event_row, insert_rows, times

PATH = "/api/admin/activity-logs"
ACTIVITY_FIELDS = {
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
    "lead",
}
PAGINATION_FIELDS = {"page", "limit", "totalCount", "totalPages", "hasMore", "nextCursor"}


@pytest.fixture
async def sample(pool):
    """Two clients; leads with names, emails and phones; events of several kinds."""
    client_a, client_b = uuid.uuid4(), uuid.uuid4()
    ana = await add_lead(
        pool,
        "recAnaLead01",
        client_id=client_a,
        first_name="Ana",
        last_name="Lopez",
        email="ana.lopez@example.com",
        phone="+1 (555) 010-2030",
    )
    bob = await add_lead(
        pool, "recBobLead01", client_id=client_b, first_name="Bob", last_name="Stone"
    )
    t = datetime(2026, 3, 1, 9, tzinfo=UTC)
    rows = [
        event_row(
            ana,
            airtable_id="recAnaLead01",
            client_id=client_a,
            description="SMS sent",
            message="Your appointment is confirmed for Tuesday",
            metadata={"campaign_id": "spring"},
            execution_id="exec-9",
            timestamp=t,
        ),
        event_row(
            ana,
            airtable_id="recAnaLead01",
            client_id=client_a,
            event_type="BOOKING_CONFIRMED",
            category="BOOKING",
            description="Calendly booking confirmed",
            message=None,
            source="n8n:wf-calendly",
            timestamp=t + timedelta(hours=1),
        ),
        event_row(
            bob,
            airtable_id="recBobLead01",
            client_id=client_b,
            event_type="INBOUND_REPLY",
            description="Reply received",
            message='=HYPERLINK("http://evil") stop texting me',
            timestamp=t + timedelta(hours=2),
        ),
        event_row(
            bob,
            airtable_id="recBobLead01",
            client_id=client_b,
            event_type="NOTE_ADDED",
            category="MANUAL",
            description="Note: 100% interested_in_solar",
            message=None,
            source="ui:add-note",
            timestamp=t + timedelta(hours=3),
        ),
    ]
    await insert_rows(pool, rows)
    return {"client_a": client_a, "client_b": client_b, "ana": ana, "bob": bob, "rows": rows}


async def _get(api, key, path=PATH, **params):
    async with api.client(key) as http:
        return await http.get(path, params=params)


def _types(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [a["eventType"] for a in response.json()["activities"]]


async def test_shape(api, admin_key, sample) -> None:
    response = await _get(api, admin_key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"activities", "pagination"}
    assert set(body["pagination"]) >= PAGINATION_FIELDS
    assert body["pagination"] == {
        "page": 1,
        "limit": 50,
        "totalCount": 4,
        "totalPages": 1,
        "hasMore": False,
        "nextCursor": None,
        "estimated": False,
    }
    assert [a["eventType"] for a in body["activities"]] == [
        "NOTE_ADDED",
        "INBOUND_REPLY",
        "BOOKING_CONFIRMED",
        "MESSAGE_SENT",
    ]
    oldest = body["activities"][-1]
    assert set(oldest) == ACTIVITY_FIELDS
    assert oldest["lead"] == {
        "id": str(sample["ana"]),
        "firstName": "Ana",
        "lastName": "Lopez",
        "email": "ana.lopez@example.com",
        "displayName": "Ana Lopez",
    }
    assert oldest["metadata"] == {"campaign_id": "spring"}
    assert oldest["messageContent"] == "Your appointment is confirmed for Tuesday"
    assert oldest["leadAirtableId"] == "recAnaLead01"
    assert oldest["executionId"] == "exec-9"
    assert oldest["timestamp"] == "2026-03-01T09:00:00Z"


async def test_search_by_text_and_by_lead(api, admin_key, sample) -> None:
    assert _types(await _get(api, admin_key, search="appointments")) == ["MESSAGE_SENT"]
    assert _types(await _get(api, admin_key, search="calendly booking")) == ["BOOKING_CONFIRMED"]
    # websearch syntax: quoted phrase, OR, negation.
    assert _types(await _get(api, admin_key, search='"stop texting"')) == ["INBOUND_REPLY"]
    assert _types(await _get(api, admin_key, search="solar -appointment")) == ["NOTE_ADDED"]
    # The lead's name, email and phone find all of that lead's events.
    ana_events = ["BOOKING_CONFIRMED", "MESSAGE_SENT"]
    assert _types(await _get(api, admin_key, search="ana lopez")) == ana_events
    # Several words match the name by prefix, in any order: "lop an" is Ana Lopez too.
    assert _types(await _get(api, admin_key, search="lop an")) == ana_events
    assert _types(await _get(api, admin_key, search="an sto")) == []  # no one is both
    assert _types(await _get(api, admin_key, search="ANA.LOPEZ@example")) == ana_events
    assert _types(await _get(api, admin_key, search="555-010-2030")) == ana_events
    assert _types(await _get(api, admin_key, search="Stone")) == ["NOTE_ADDED", "INBOUND_REPLY"]
    # A word in an event and a lead's name at once: each event once.
    response = await _get(api, admin_key, search="bob")
    assert _types(response) == ["NOTE_ADDED", "INBOUND_REPLY"]
    assert response.json()["pagination"]["totalCount"] == 2


ODD_SEARCHES = [
    "'; DROP TABLE lead_activity_log; --",
    "%",
    "_",
    "\\",
    "a' OR '1'='1",
    "!!! && || :* <-> ()",
    '"unbalanced',
    "$1",
    "the",  # only a stop word: an empty query
    "ünïcødé 🙂",
]


async def test_sql_metacharacters_in_search_are_harmless(api, pool, admin_key, sample) -> None:
    for search in ODD_SEARCHES:
        for path in (PATH, f"{PATH}/counts", f"{PATH}/export.csv"):
            response = await _get(api, admin_key, path, search=search)
            assert response.status_code == 200, (search, path, response.text)
        response = await _get(api, admin_key, search=search)
        # None of these match everything (LIKE wildcards are escaped).
        assert len(response.json()["activities"]) < 4, search
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 4


async def test_literal_percent_and_underscore_match_literally(api, admin_key, sample) -> None:
    # A name search with % or _ must not act as a wildcard.
    assert _types(await _get(api, admin_key, search="Lo_ez")) == []
    assert _types(await _get(api, admin_key, search="100%")) == ["NOTE_ADDED"]


async def test_every_filter(api, admin_key, sample) -> None:
    f = sample
    assert _types(await _get(api, admin_key, eventType="INBOUND_REPLY")) == ["INBOUND_REPLY"]
    assert _types(await _get(api, admin_key, category="MANUAL,BOOKING")) == [
        "NOTE_ADDED",
        "BOOKING_CONFIRMED",
    ]
    assert _types(await _get(api, admin_key, leadId=str(f["ana"]))) == [
        "BOOKING_CONFIRMED",
        "MESSAGE_SENT",
    ]
    assert _types(await _get(api, admin_key, leadAirtableId="recBobLead01")) == [
        "NOTE_ADDED",
        "INBOUND_REPLY",
    ]
    assert _types(await _get(api, admin_key, clientId=str(f["client_a"]))) == [
        "BOOKING_CONFIRMED",
        "MESSAGE_SENT",
    ]
    assert _types(await _get(api, admin_key, source="ui:add-note")) == ["NOTE_ADDED"]
    assert _types(await _get(api, admin_key, executionId="exec-9")) == ["MESSAGE_SENT"]
    assert _types(
        await _get(api, admin_key, dateFrom="2026-03-01T10:00:00Z", dateTo="2026-03-01T11:00:00Z")
    ) == ["INBOUND_REPLY", "BOOKING_CONFIRMED"]
    assert _types(await _get(api, admin_key, dateFrom="2026-03-02")) == []


async def test_sorting(api, admin_key, sample) -> None:
    assert _types(await _get(api, admin_key, sortOrder="asc")) == [
        "MESSAGE_SENT",
        "BOOKING_CONFIRMED",
        "INBOUND_REPLY",
        "NOTE_ADDED",
    ]
    assert _types(await _get(api, admin_key, sortBy="eventType", sortOrder="asc")) == [
        "BOOKING_CONFIRMED",
        "INBOUND_REPLY",
        "MESSAGE_SENT",
        "NOTE_ADDED",
    ]
    by_category = await _get(api, admin_key, sortBy="eventCategory")
    assert [a["category"] for a in by_category.json()["activities"]] == [
        "SMS",
        "SMS",
        "MANUAL",
        "BOOKING",
    ]


@pytest.mark.parametrize(
    ("sort_by", "sort_order"),
    [
        ("timestamp", "desc"),
        ("timestamp", "asc"),
        ("eventType", "desc"),
        ("eventCategory", "asc"),
        ("lead", "asc"),
        ("lead", "desc"),
    ],
)
async def test_pages_and_cursors_walk_everything_once(
    api, pool, admin_key, sort_by, sort_order
) -> None:
    leads = [
        await add_lead(pool, "recPaging001", "Zed"),
        await add_lead(pool, "recPaging002", "amy"),
    ]
    kinds = [("MESSAGE_SENT", "SMS"), ("NOTE_ADDED", "MANUAL"), ("BOOKING_CONFIRMED", "BOOKING")]
    stamps = times(40)
    rows = [
        event_row(
            leads[i % 2],
            event_type=kinds[i % 3][0],
            category=kinds[i % 3][1],
            timestamp=stamps[i % 40],
        )
        for i in range(250)
    ]
    await insert_rows(pool, rows)
    order = {"sortBy": sort_by, "sortOrder": sort_order}
    by_cursor: list[str] = []
    names: list[str] = []
    cursor = None
    while True:
        params = order | {"limit": 30} | ({"cursor": cursor} if cursor else {})
        body = (await _get(api, admin_key, **params)).json()
        by_cursor += [a["id"] for a in body["activities"]]
        names += [a["lead"]["displayName"] for a in body["activities"]]
        cursor = body["pagination"]["nextCursor"]
        if cursor is None:
            break
    by_page: list[str] = []
    for page in range(1, 10):
        body = (await _get(api, admin_key, **order, limit=30, page=page)).json()
        assert body["pagination"]["totalCount"] == 250
        assert body["pagination"]["totalPages"] == 9
        by_page += [a["id"] for a in body["activities"]]
    assert len(by_cursor) == len(set(by_cursor)) == 250
    assert by_cursor == by_page
    if sort_by == "lead":  # by the name shown, case aside: "amy" before "Zed"
        by_name = ["amy", "Zed"] if sort_order == "asc" else ["Zed", "amy"]
        assert list(dict.fromkeys(names)) == by_name


async def test_counts(api, admin_key, sample) -> None:
    response = await _get(api, admin_key, f"{PATH}/counts")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "all": 4,
        "SMS": 2,
        "CAMPAIGN": 0,
        "BOOKING": 1,
        "MANUAL": 1,
        "CONVERSATION": 0,
        "SYSTEM": 0,
        "estimated": False,
    }
    filtered = (await _get(api, admin_key, f"{PATH}/counts", search="ana", category="SMS")).json()
    assert filtered["all"] == 2
    assert filtered["SMS"] == 1
    assert filtered["BOOKING"] == 1


async def test_filtered_counts_are_capped_and_flagged(api_settings, serve, pool, admin_key) -> None:
    lead = await add_lead(pool, "recCapped001")
    await insert_rows(pool, [event_row(lead, timestamp=t) for t in times(250)])
    await pool.execute("ANALYZE lead_activity_log")
    capped = api_settings.model_copy(update={"api_count_cap": 100})
    # A source filter is not one the counters keep: counted from the log, up to the cap.
    by_source = {"source": "n8n:wf-sms"}
    async with serve(capped) as api:
        body = (await _get(api, admin_key, limit=10, **by_source)).json()
        counts = (await _get(api, admin_key, f"{PATH}/counts", **by_source)).json()
        exact = (await _get(api, admin_key, eventType="NOTE_ADDED")).json()
        unfiltered = (await _get(api, admin_key, limit=10)).json()
        all_counts = (await _get(api, admin_key, f"{PATH}/counts")).json()
    assert body["pagination"]["estimated"] is True
    assert body["pagination"]["totalCount"] >= 100
    assert len(body["activities"]) == 10
    assert body["pagination"]["hasMore"] is True
    assert counts["estimated"] is True
    assert counts["all"] >= 100
    assert counts["BOOKING"] == 0
    # Unfiltered (or by client, category, type) the counters answer: exact, whatever the cap.
    assert unfiltered["pagination"]["totalCount"] == 250
    assert unfiltered["pagination"]["estimated"] is False
    assert all_counts == {"all": 250, "SMS": 250} | {
        c: 0 for c in ("CAMPAIGN", "BOOKING", "MANUAL", "CONVERSATION", "SYSTEM")
    } | {"estimated": False}
    assert exact["pagination"] | {} == {
        "page": 1,
        "limit": 50,
        "totalCount": 0,
        "totalPages": 0,
        "hasMore": False,
        "nextCursor": None,
        "estimated": False,
    }


async def test_portal_keys_are_pinned_to_their_client(api, make_key, ingest_key, sample) -> None:
    portal_a = await make_key("portal", client_id=sample["client_a"])
    assert _types(await _get(api, portal_a)) == ["BOOKING_CONFIRMED", "MESSAGE_SENT"]
    assert _types(await _get(api, portal_a, search="stone")) == []
    counts = (await _get(api, portal_a, f"{PATH}/counts")).json()
    assert counts["all"] == 2
    other = await _get(api, portal_a, clientId=str(sample["client_b"]))
    assert other.status_code == 403
    own = await _get(api, portal_a, clientId=str(sample["client_a"]))
    assert own.status_code == 200
    for path in (PATH, f"{PATH}/counts", f"{PATH}/export.csv"):
        assert (await _get(api, ingest_key, path)).status_code == 403
        assert (await _get(api, None, path)).status_code == 401


BAD_PARAMETERS = [
    ({"limit": "101"}, "limit"),
    ({"limit": "99999999999999999999999999"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"page": "0"}, "page"),
    ({"page": "abc"}, "page"),
    ({"page": "5000", "limit": "100"}, "page"),
    ({"page": "2", "cursor": "abc"}, "cursor"),
    ({"cursor": "%%%"}, "cursor"),
    ({"sortBy": "description"}, "sortBy"),
    ({"sortOrder": "sideways"}, "sortOrder"),
    ({"eventType": "NOPE"}, "eventType"),
    ({"category": "NOPE"}, "category"),
    ({"leadId": "not-a-uuid"}, "leadId"),
    ({"clientId": "42"}, "clientId"),
    ({"leadAirtableId": "nope"}, "leadAirtableId"),
    ({"dateTo": "2026-13-45"}, "dateTo"),
    ({"search": "x" * 201}, "search"),
    ({"search": "bad\x00byte"}, "search"),
    ({"source": "n8n:\x00"}, "source"),
]


async def test_bad_parameters_are_400_naming_the_field(api, admin_key) -> None:
    for params, field in BAD_PARAMETERS:
        for path in (PATH, f"{PATH}/counts", f"{PATH}/export.csv"):
            if path != PATH and field in ("limit", "page", "cursor"):
                continue  # counts and export take no paging
            if path == f"{PATH}/counts" and field in ("sortBy", "sortOrder"):
                continue  # counts are not sorted
            response = await _get(api, admin_key, path, **params)
            assert response.status_code == 400, (path, params, response.text)
            body = response.json()
            assert field in [e["field"] for e in body["errors"]], body


async def test_a_cursor_from_another_sort_order_is_refused(api, pool, admin_key) -> None:
    lead = await add_lead(pool, "recCursor001")
    await insert_rows(pool, [event_row(lead, timestamp=t) for t in times(5)])
    cursor = (await _get(api, admin_key, limit=2)).json()["pagination"]["nextCursor"]
    response = await _get(api, admin_key, cursor=cursor, sortBy="eventType")
    assert response.status_code == 400
    assert "another sort order" in response.json()["error"]


async def test_a_count_over_its_time_budget_becomes_an_estimate(
    api_settings, serve, pool, admin_key
) -> None:
    lead = await add_lead(pool, "recBudget001")
    await insert_rows(pool, [event_row(lead, timestamp=t) for t in times(30_000, step_s=0.01)])
    await pool.execute("ANALYZE lead_activity_log")
    hurried = api_settings.model_copy(update={"api_count_budget_ms": 1})
    async with serve(hurried) as api:
        body = (await _get(api, admin_key, limit=5, search="hello")).json()
        counts = (await _get(api, admin_key, f"{PATH}/counts", search="hello")).json()
    # Counting 30,000 matches takes longer than 1 ms: the planner's estimate, flagged.
    assert body["pagination"]["estimated"] is True
    assert body["pagination"]["totalCount"] > 1_000
    assert len(body["activities"]) == 5
    assert counts["estimated"] is True
    assert counts["all"] > 1_000
