"""The admin UI over the shared reads: "By: …" on the browser's rows and the lead page, the
author filter, Copy JSON in the API's one spelling, and the older URLs (sort words, cursors,
`before=`) still loading."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from playwright.async_api import Page, expect
from ui_data import body, seed, store_events
from ui_support import ADMIN_EMAIL, ADMIN_PASSWORD

from activitylog.domain.reads.cursor import encode_cursor
from activitylog_testing.leads import add_lead

ROWS = "#event-list details.event"
USER = uuid.UUID("6f1c2a52-0d5e-4a57-9a51-5b2f3c4d5e6f")


def _by(data: dict, user: uuid.UUID = USER) -> dict:
    return data | {"createdBy": str(user)}


async def _seed_with_author(pool) -> None:
    """The usual small log, and a note on Jane's lead made by a portal user."""
    data = await seed(pool)
    note = body("NOTE_ADDED", "recJaneDoe01", "Note by a portal user", data.now - 5 * _MINUTE)
    await store_events(pool, [_by(note | {"source": "ui:add-note", "messageContent": "Hi"})])


_MINUTE = timedelta(minutes=1)


@pytest.mark.browser
async def test_rows_say_who_did_it_and_filter_by_them(admin: Page, pool) -> None:
    await _seed_with_author(pool)
    await admin.goto("/admin/activity-logs")
    await expect(admin.locator(ROWS)).to_have_count(8)
    mine = admin.locator(ROWS, has_text="Note by a portal user")
    await expect(mine.locator(".ev-tags .ev-by")).to_have_text(f"By: {str(USER)[:8]}…")
    # Events nobody in the portal made say nothing of it.
    await expect(admin.locator(f"{ROWS} .ev-by")).to_have_count(1)
    await mine.locator("summary").click()
    await expect(mine.locator("dd.ev-by-full")).to_contain_text(str(USER))
    copied = orjson.loads(await mine.locator("button.copy-json").get_attribute("data-copy") or "")
    assert copied["createdBy"] == str(USER)
    assert copied["messageContent"] == "Hi"
    assert "message" not in copied
    assert "details" not in copied
    # Their events: the browser filtered by the author, the filter in the form.
    await mine.locator("dd.ev-by-full a").click()
    await expect(admin.locator(ROWS)).to_have_count(1)
    await expect(admin.locator("#created-by-input")).to_have_value(str(USER))
    assert f"createdBy={USER}" in admin.url
    # The lead page shows it too.
    await admin.goto("/admin/leads/recJaneDoe01")
    await expect(admin.locator("#timeline .ev-by")).to_have_text(f"By: {str(USER)[:8]}…")


@contextlib.asynccontextmanager
async def _signed_in(url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client signed in to the admin UI as the test's admin."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        await _log_in(http)
        yield http


async def _log_in(http: httpx.AsyncClient) -> None:
    page = await http.get("/admin/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:300]
    response = await http.post(
        "/admin/login",
        data={
            "email": ADMIN_EMAIL,
            "password": ADMIN_PASSWORD,
            "next": "",
            "_csrf_token": token.group(1),
        },
    )
    assert response.status_code == 303, response.text[:300]


def _ids(html: str) -> list[str]:
    return re.findall(r'<details class="event[^"]*" id="ev-([0-9a-f-]{36})"', html)


async def test_filters_by_author_and_category_name_in_the_page(ui, pool) -> None:
    await _seed_with_author(pool)
    async with _signed_in(ui.url) as http:
        by_user = await http.get("/admin/activity-logs", params={"createdBy": str(USER)})
        by_name = await http.get("/admin/activity-logs", params={"eventCategory": "MANUAL"})
        by_word = await http.get("/admin/activity-logs", params={"category": "MANUAL"})
        bad = await http.get("/admin/activity-logs", params={"createdBy": "someone"})
    assert by_user.status_code == 200
    assert len(_ids(by_user.text)) == 1
    assert "Note by a portal user" in by_user.text
    assert _ids(by_name.text) == _ids(by_word.text)
    assert len(_ids(by_word.text)) == 2
    assert bad.status_code == 400
    assert "createdBy:" in bad.text


async def test_older_urls_still_load(ui, pool) -> None:
    """Links saved before the UI and the API shared their reads: the UI's sort words, its
    cursors (`older=`, `newer=`), the lead page's, and the retry queue's `before=`."""
    lead = await add_lead(pool, "recOldLinks01", "Old", "Links")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    stored = await store_events(
        pool,
        [body("NOTE_ADDED", "recOldLinks01", f"Note {n}", start + n * _MINUTE) for n in range(60)],
    )
    row_id = await pool.fetchval(
        "INSERT INTO retry_queue (queue_id, payload, status, last_error) "
        "VALUES ('q-old-link', '{}', 'dead', 'x') RETURNING id"
    )
    newest_first = stored[::-1]
    tenth = (start + 50 * _MINUTE).isoformat()  # Note 50: the 10th newest
    async with _signed_in(ui.url) as http:
        by_word = await http.get("/admin/activity-logs", params={"sort": "event", "dir": "asc"})
        by_name = await http.get(
            "/admin/activity-logs", params={"sortBy": "eventType", "sortOrder": "asc"}
        )
        older = await http.get(
            "/admin/activity-logs",
            params={"older": encode_cursor("ui-browse", [tenth, str(newest_first[9])])},
        )
        newer = await http.get(
            "/admin/activity-logs",
            params={"newer": encode_cursor("ui-browse", [tenth, str(newest_first[9])])},
        )
        lead_page = await http.get(
            f"/admin/leads/{lead}",
            params={"older": encode_cursor("ui-timeline", [tenth, str(newest_first[9])])},
        )
        first = await http.get("/admin/activity-logs")
        after_first = re.search(r'href="([^"]+)" id="older"', first.text)
        retry_before = await http.get("/admin/retry-queue", params={"before": str(row_id + 1)})
    for response in (by_word, by_name, older, newer, lead_page, retry_before):
        assert response.status_code == 200, response.text[:500]
    assert _ids(by_word.text) == _ids(by_name.text)
    assert _ids(older.text) == [str(i) for i in newest_first[10:60]]
    assert _ids(newer.text) == [str(i) for i in newest_first[:9]]
    assert [m for m in re.findall(r"Note \d+", lead_page.text)][:1] == ["Note 49"]
    # Today's links carry the one cursor dialect the JSON API pages with.
    assert after_first is not None
    assert "older=eyJrIjoiYnJvd3NlOnRpbWVzdGFtcDpkZXNjIi" in after_first.group(1)
    assert "q-old-link" in retry_before.text


async def test_the_retry_queue_pages_with_the_api_s_cursor(ui, pool) -> None:
    ids = [
        await pool.fetchval(
            "INSERT INTO retry_queue (queue_id, payload, status, last_error) "
            "VALUES ($1, '{}', 'dead', 'x') RETURNING id",
            f"q-page-{n:02d}",
        )
        for n in range(55)
    ]
    async with _signed_in(ui.url) as http:
        first = await http.get("/admin/retry-queue", params={"status": "dead"})
        link = re.search(r'href="([^"]+)" id="older"', first.text)
        assert link is not None
        assert "cursor=" in link.group(1)
        second = await http.get(link.group(1).replace("&amp;", "&"))
    shown = re.findall(r'id="retry-(\d+)"', first.text + second.text)
    assert [int(i) for i in shown] == ids[::-1]
