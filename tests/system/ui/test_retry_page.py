"""The retry-queue page: health figures, rows by status, replay and discard."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect
from ui_support import screenshot

from support import dumps, event

pytestmark = pytest.mark.browser


async def add_row(pool, queue_id: str, payload: str, status: str, error: str) -> int:
    return await pool.fetchval(
        """
        INSERT INTO retry_queue (queue_id, lead_id, payload, status, last_error, retry_count,
                                 next_retry_at)
        VALUES ($1, 'recRetry0001', $2, $3, $4, 2, now() + interval '10 minutes')
        RETURNING id
        """,
        queue_id,
        payload,
        status,
        error,
    )


async def test_replay_resolves_a_row_and_discard_discards_one(admin: Page, pool, artifacts) -> None:
    good = await add_row(
        pool,
        "exec-77-0",
        dumps(event(77, leadAirtableId="recRetry0001")).decode(),
        "pending",
        "PostgreSQL unavailable: ConnectionRefusedError",
    )
    bad = await add_row(pool, "exec-78-0", "{not json", "dead", "payload: invalid JSON")
    await admin.goto("/admin/retry-queue")
    await expect(admin.locator("#health .health-title")).to_contain_text("System")
    await expect(admin.locator("#fig-pending")).to_have_text("1")
    await expect(admin.locator("#fig-dead")).to_have_text("1")
    row = admin.locator(f"#retry-{good}")
    await expect(row.locator(".badge")).to_have_text("pending")
    await expect(row.locator(".attempts")).to_have_text("2")
    await expect(row.locator(".retry-error")).to_contain_text("PostgreSQL unavailable")
    await row.locator("details.payload summary").click()
    await expect(row.locator("pre.metadata")).to_contain_text('"eventType": "MESSAGE_SENT"')
    await screenshot(admin, artifacts, "retry-queue", docs=True, full_page=True)

    await row.locator("button.replay").click()
    await expect(admin.locator(".banner.success")).to_contain_text(f"Row #{good} replayed")
    await expect(admin.locator(f"#retry-{good} .badge")).to_have_text("resolved")
    await expect(admin.locator(f"#retry-{good} button.replay")).to_have_count(0)
    assert await pool.fetchval("SELECT status FROM retry_queue WHERE id = $1", good) == "resolved"
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM lead_activity_log WHERE lead_airtable_id = 'recRetry0001'"
        )
        == 1
    )

    # A payload that can never be an event fails again, and says why.
    await admin.locator(f"#retry-{bad} button.replay").click()
    await expect(admin.locator(".banner.error")).to_contain_text(f"Row #{bad} failed again")
    admin.once("dialog", lambda dialog: dialog.accept())
    await admin.locator(f"#retry-{bad} button.discard").click()
    await expect(admin.locator(".banner.success")).to_contain_text(f"Row #{bad} discarded")
    assert await pool.fetchval("SELECT status FROM retry_queue WHERE id = $1", bad) == "discarded"


async def test_rows_filter_by_status(admin: Page, pool) -> None:
    await admin.goto("/admin/retry-queue")
    await expect(admin.locator("#empty-state")).to_contain_text("The retry queue is empty")
    ids = {
        status: await add_row(pool, f"q-{status}", "{}", status, f"why {status}")
        for status in ("pending", "dead", "resolved", "discarded")
    }
    await admin.goto("/admin/retry-queue")
    await expect(admin.locator("article.retry-row")).to_have_count(4)
    for status, row_id in ids.items():
        await admin.click(f"#status-tabs a:has-text('{status.title()}')")
        await expect(admin.locator("article.retry-row")).to_have_count(1)
        await expect(admin.locator(f"#retry-{row_id}")).to_be_visible()
        assert f"status={status}" in admin.url
    await admin.click("#status-tabs a:has-text('All')")
    await expect(admin.locator("article.retry-row")).to_have_count(4)


async def test_any_payload_renders_and_the_raw_view_shows_it_whole(admin: Page, pool) -> None:
    deep = '{"metadata":' + '{"a":' * 300 + "{}" + "}" * 300 + "}"
    huge = dumps(event(1, messageContent="<b>x</b>" * 9_000)).decode()
    odd = '\u202e<script>alert("x")</script>\\u0000 not json'
    rows = {
        name: await add_row(pool, f"poison-{name}", payload, "dead", "why")
        for name, payload in (("deep", deep), ("huge", huge), ("odd", odd))
    }
    await admin.goto("/admin/retry-queue")
    for row_id in rows.values():
        await expect(admin.locator(f"#retry-{row_id} .badge")).to_have_text("dead")
    huge_row = admin.locator(f"#retry-{rows['huge']}")
    await huge_row.locator("details.payload summary").click()
    await expect(huge_row.locator("pre.metadata")).to_contain_text("cut at 20,000 characters")
    odd_row = admin.locator(f"#retry-{rows['odd']}")
    await odd_row.locator("details.payload summary").click()
    await expect(odd_row.locator("pre.metadata")).to_contain_text('<script>alert("x")</script>')
    for name, payload in (("deep", deep), ("huge", huge), ("odd", odd)):
        response = await admin.request.get(f"/admin/retry-queue/{rows[name]}/raw")
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert await response.text() == payload
    missing = await admin.request.get("/admin/retry-queue/99999999/raw")
    assert missing.status == 404


async def test_unplaced_events_are_counted_and_listed(admin: Page, pool) -> None:
    """An event whose phone no lead has: a health figure and its own tab, with the reason."""
    await pool.execute(
        """
        INSERT INTO retry_queue (queue_id, lead_id, payload, status, last_error, waiting_for,
                                 next_retry_at)
        VALUES ('http:unplaced-1', '+14085559999', $1, 'pending',
                'no lead with phone +14085559999', ARRAY['phone:14085559999'],
                now() + interval '10 minutes')
        """,
        dumps(event(5, leadAirtableId=None, leadPhone="+14085559999")).decode(),
    )
    await add_row(pool, "exec-79-0", "{not json", "dead", "payload: invalid JSON")
    await admin.goto("/admin/retry-queue")
    await expect(admin.locator("#fig-unplaced")).to_have_text("1")
    await admin.locator("#fig-unplaced a").click()
    await expect(admin).to_have_url(re.compile(r"/admin/retry-queue\?status=unplaced$"))
    rows = admin.locator("article.retry-row")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator(".retry-error")).to_contain_text(
        "no lead with phone +14085559999"
    )
