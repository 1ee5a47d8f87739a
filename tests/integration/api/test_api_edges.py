"""Edge parameters answer 400 naming the field (never 500); ±infinity rows read and page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from activitylog.domain.reads.cursor import encode_cursor
from activitylog_testing.leads import add_lead
from api_support import event_row, form_token, insert_rows, sign_in_ui

LEAD = "recEdge00001"
BROWSER = "/api/admin/activity-logs/"
DATE_ROUTES = [
    f"/api/leads/{LEAD}/activity",
    BROWSER,
    "/api/admin/activity-logs/counts",
    "/api/admin/activity-logs/export.csv",
]
# Outside 1970..2100, and near year 1 or 9999 a zone shift overflows Python's datetime.
OUT_OF_WINDOW = [
    ("dateTo", "9999-12-31"),
    ("dateFrom", "0001-01-01T00:00:00+14:00"),
    ("dateTo", "9999-12-31T23:59:59-14:00"),
    ("dateFrom", "1969-12-31T23:59:59Z"),
]
CURSOR_DATES = [
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59+00:00",
    "2100-01-01T00:00:00+00:00",
]


def _fields(response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


@pytest.mark.parametrize(("field", "value"), OUT_OF_WINDOW)
async def test_a_date_bound_outside_the_window_is_a_400_naming_it(
    api, pool, admin_key, field, value
) -> None:
    await add_lead(pool, LEAD)
    async with api.client(admin_key) as http:
        for path in DATE_ROUTES:
            response = await http.get(path, params={field: value})
            assert response.status_code == 400, (path, response.text)
            assert _fields(response) == [field], path
            assert "1970" in response.json()["error"]


async def test_the_window_holds_its_last_day_and_refuses_the_next(api, pool, admin_key) -> None:
    lead = await add_lead(pool, LEAD)
    await insert_rows(pool, [event_row(lead, timestamp=datetime(2099, 12, 31, 23, tzinfo=UTC))])
    async with api.client(admin_key) as http:
        inside = await http.get(BROWSER, params={"dateFrom": "1970-01-01", "dateTo": "2099-12-31"})
        outside = await http.get(BROWSER, params={"dateFrom": "2100-01-01"})
    assert inside.status_code == 200, inside.text
    assert len(inside.json()["activities"]) == 1
    assert outside.status_code == 400
    assert _fields(outside) == ["dateFrom"]


@pytest.mark.parametrize("moment", CURSOR_DATES)
async def test_a_cursor_date_outside_the_window_is_a_400_naming_the_cursor(
    api, pool, admin_key, moment
) -> None:
    await add_lead(pool, LEAD)
    some_id = str(uuid.uuid4())
    cursors = {
        f"/api/leads/{LEAD}/activity": encode_cursor("timeline", [moment, some_id]),
        BROWSER: encode_cursor("browse:timestamp:desc", [moment, some_id]),
    }
    by_type = encode_cursor("browse:eventType:desc", ["MESSAGE_SENT", moment, some_id])
    async with api.client(admin_key) as http:
        for path, cursor in cursors.items():
            response = await http.get(path, params={"cursor": cursor})
            assert response.status_code == 400, (path, response.text)
            assert _fields(response) == ["cursor"]
        response = await http.get(BROWSER, params={"cursor": by_type, "sortBy": "eventType"})
        assert response.status_code == 400, response.text
        assert _fields(response) == ["cursor"]


async def test_retry_queue_ids_must_be_ascii_digits_that_fit_a_bigint(api, admin_key) -> None:
    base = "/api/admin/retry-queue"
    async with api.client(admin_key) as http:
        # "²".isdigit() is True, int("²") is not a number; 2^63 does not fit a bigint.
        for text in ("²", "١٢", "9223372036854775808", "99999999999999999999", "0"):
            assert (await http.get(f"{base}/{text}")).status_code == 404, text
            assert (await http.post(f"{base}/{text}/replay")).status_code == 404, text
            assert (await http.post(f"{base}/{text}/discard")).status_code == 404, text
        for value in ("²", "99999999999999999999", "-1"):
            cursor = encode_cursor("retry-queue:id:desc", [value])
            response = await http.get(f"{base}/", params={"cursor": cursor})
            assert response.status_code == 400, (value, response.text)
            assert _fields(response) == ["cursor"]


async def test_the_retry_page_ignores_a_before_that_is_no_row_id(api, pool) -> None:
    row_id = await pool.fetchval(
        "INSERT INTO retry_queue (queue_id, payload, status, last_error) "
        "VALUES ('q-edge', '{}', 'dead', 'x') RETURNING id"
    )
    async with api.client(None) as http:
        await sign_in_ui(pool, http)
        for before in ("99999999999999999999", "9223372036854775808", "²"):
            response = await http.get("/admin/retry-queue", params={"before": before})
            assert response.status_code == 200, (before, response.text[:500])
            assert "q-edge" in response.text
        # A row id in the path beyond a bigint names no row: a message, not a 500.
        token = form_token((await http.get("/admin/retry-queue")).text)
        for action in ("replay", "discard"):
            response = await http.post(
                f"/admin/retry-queue/99999999999999999999/{action}",
                data={"back": "/admin/retry-queue", "_csrf_token": token},
            )
            assert response.status_code == 303, (action, response.text[:500])
        page = await http.get("/admin/retry-queue")
        assert "Row #99999999999999999999 does not exist." in page.text
    assert await pool.fetchval("SELECT status FROM retry_queue WHERE id = $1", row_id) == "dead"


async def _infinite_rows(pool) -> tuple[uuid.UUID, list[str]]:
    """A lead with four events, two of them at PostgreSQL's +infinity and -infinity."""
    lead = await add_lead(pool, LEAD, first_name="Ada")
    rows = [
        event_row(lead, airtable_id=LEAD, timestamp=datetime(2026, 3, day, tzinfo=UTC))
        for day in (1, 2)
    ]
    rows += [event_row(lead, airtable_id=LEAD), event_row(lead, airtable_id=LEAD)]
    await insert_rows(pool, rows)
    await pool.execute(
        'UPDATE lead_activity_log SET "timestamp" = v.t::timestamptz '
        "FROM (VALUES ($1::uuid, 'infinity'), ($2::uuid, '-infinity')) AS v(id, t) "
        "WHERE lead_activity_log.id = v.id",
        rows[2][0],
        rows[3][0],
    )
    # As the ingest leaves it: the lead's last activity moved forward to the event's time.
    await pool.execute("UPDATE leads SET last_activity_at = 'infinity' WHERE id = $1", lead)
    # Newest first: +infinity, 2 March, 1 March, -infinity.
    return lead, [str(rows[i][0]) for i in (2, 1, 0, 3)]


async def _walk(http, path: str, key: str, params: dict[str, str]) -> list[dict]:
    items: list[dict] = []
    cursor = None
    while True:
        response = await http.get(path, params=params | ({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body[key])
        cursor = body["pagination"]["nextCursor"]
        if cursor is None:
            return items


async def test_infinite_timestamps_are_read_and_paged_through(api, pool, admin_key) -> None:
    lead, newest_first = await _infinite_rows(pool)
    async with api.client(admin_key) as http:
        timeline = await _walk(http, f"/api/leads/{lead}/activity", "timeline", {"limit": "1"})
        browser = await _walk(http, BROWSER, "activities", {"limit": "1"})
        oldest_first = await _walk(http, BROWSER, "activities", {"limit": "1", "sortOrder": "asc"})
        by_type = await _walk(http, BROWSER, "activities", {"limit": "1", "sortBy": "eventType"})
        export = await http.get("/api/admin/activity-logs/export.csv")
    assert [i["id"] for i in timeline] == newest_first
    assert [i["id"] for i in browser] == newest_first
    assert [i["id"] for i in oldest_first] == newest_first[::-1]
    assert sorted(i["id"] for i in by_type) == sorted(newest_first)
    assert timeline[0]["timestamp"] == "9999-12-31T23:59:59.999999Z"
    assert timeline[-1]["timestamp"] == "0001-01-01T00:00:00Z"
    assert export.status_code == 200
    lines = export.text.strip().splitlines()
    assert len(lines) == 5
    assert lines[1].startswith("9999-12-31T23:59:59.999999Z,")


async def test_infinite_timestamps_show_on_the_admin_pages(api, pool) -> None:
    lead, newest_first = await _infinite_rows(pool)
    async with api.client(None) as http:
        await sign_in_ui(pool, http)
        for path in (f"/admin/leads/{lead}", "/admin/activity-logs"):
            response = await http.get(path)
            assert response.status_code == 200, (path, response.text[:2000])
            assert all(event_id in response.text for event_id in newest_first), path
            assert "9999-12-31 23:59:59 UTC" in response.text
        assert (await http.get("/admin")).status_code == 200
