"""The activity browser in Chromium: search, filters, rows, CSV export, live refresh, paging."""

from __future__ import annotations

import csv
import functools
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect
from ui_data import body, seed, store_events
from ui_support import screenshot

from activitylog_ingest.service import run_ingest
from activitylog_testing.leads import add_lead
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import running
from support import dumps

pytestmark = pytest.mark.browser

ROWS = "#event-list details.event"


async def row_count(page: Page) -> int:
    return await page.locator(ROWS).count()


async def settle(page: Page) -> None:
    """Wait until the live filter's request has been answered and the list replaced."""
    await page.wait_for_function("!document.body.classList.contains('loading')")


async def test_search_finds_by_message_word_and_by_lead_email(admin: Page, pool, artifacts) -> None:
    await seed(pool)
    await admin.goto("/admin/activity-logs")
    await expect(admin.locator(ROWS)).to_have_count(7)
    await screenshot(admin, artifacts, "activity-logs", docs=True)

    # Typing is debounced: one request after the last key, and the URL keeps the search.
    await admin.locator("input[name=search]").press_sequentially("inspection", delay=20)
    await expect(admin.locator(ROWS)).to_have_count(1)
    await expect(admin.locator(ROWS).first).to_contain_text("roof inspection")
    assert "search=inspection" in admin.url

    await admin.fill("input[name=search]", "bob@example.com")
    await expect(admin.locator(ROWS)).to_have_count(2)
    for text in await admin.locator(f"{ROWS} .ev-lead").all_inner_texts():
        assert text == "Bob Stone"

    await admin.fill("input[name=search]", "zebra-crossing-nowhere")
    await expect(admin.locator("#empty-state")).to_contain_text("No events match")


async def test_each_filter_narrows_the_list_and_the_url_holds_it(admin: Page, pool) -> None:
    data = await seed(pool)
    await admin.goto("/admin/activity-logs")
    await expect(admin.locator(ROWS)).to_have_count(7)

    await admin.select_option("select[name=category]", "SMS")
    await expect(admin.locator(ROWS)).to_have_count(2)
    assert "category=SMS" in admin.url
    await admin.click("#type-picker summary")
    await admin.check("input[name=eventType][value=INBOUND_REPLY]")
    await expect(admin.locator(ROWS)).to_have_count(1)
    await expect(admin.locator(ROWS).first).to_contain_text("Inbound Reply")
    await admin.click("a.btn:has-text('Reset')")
    await expect(admin.locator(ROWS)).to_have_count(7)

    # Date ranges: 1 h → Jane's two SMS; 24 h → + Bob's enrolment; 7 d → all but the stub's.
    for choice, expected in (("1h", 2), ("24h", 3), ("7d", 6), ("", 7)):
        await admin.select_option("select[name=range]", choice)
        await expect(admin.locator(ROWS)).to_have_count(expected)
    await admin.select_option("select[name=range]", "custom")
    since = (data.now - timedelta(days=2, hours=1)).strftime("%Y-%m-%dT%H:%M")
    until = (data.now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    await admin.fill("input[name=dateFrom]", since)
    await admin.fill("input[name=dateTo]", until)
    await expect(admin.locator(ROWS)).to_have_count(2)  # the booking and Bob's AI reply
    await admin.select_option("select[name=range]", "")

    await admin.fill("input[name=source]", "system:calendly")
    await expect(admin.locator(ROWS)).to_have_count(1)
    await expect(admin.locator(ROWS).first).to_contain_text("Booking Confirmed")
    await admin.fill("input[name=source]", "")
    await expect(admin.locator(ROWS)).to_have_count(7)

    await admin.fill("input[name=lead]", str(data.bob))
    await expect(admin.locator(ROWS)).to_have_count(2)
    await admin.fill("input[name=lead]", "recJaneDoe01")
    await expect(admin.locator(ROWS)).to_have_count(4)
    await admin.select_option("select[name=category]", "MANUAL")
    await expect(admin.locator(ROWS)).to_have_count(1)

    # The URL is the view: opening it afresh shows the same filtered list.
    shared = admin.url
    assert "lead=recJaneDoe01" in shared
    assert "category=MANUAL" in shared
    fresh = await admin.context.new_page()
    await fresh.goto(shared)
    await expect(fresh.locator(ROWS)).to_have_count(1)
    await expect(fresh.locator(ROWS).first).to_contain_text("Note Added")
    await expect(fresh.locator("select[name=category]")).to_have_value("MANUAL")

    # A bad value is an error naming the field, not a crash.
    await fresh.goto("/admin/activity-logs?lead=not-a-lead")
    await expect(fresh.locator("#filter-error")).to_contain_text("lead:")


async def test_a_row_shows_its_parts_and_expands_to_its_metadata(
    admin: Page, pool, artifacts
) -> None:
    await seed(pool)
    await admin.goto("/admin/activity-logs?search=inspection")
    row = admin.locator(ROWS).first
    await expect(row.locator(".ev-type")).to_have_text("Message Sent")
    await expect(row.locator(".ev-lead")).to_have_text("Jane Doe")
    await expect(row.locator(".ev-tags")).to_contain_text("spring-roofing")
    await expect(row.locator(".ev-tags")).to_contain_text("+15550001111")
    await expect(row.locator(".ev-source")).to_contain_text("n8n:wf-sms")
    await expect(row.locator(".ev-source")).to_contain_text("exec-jane-1")
    # The summary itself holds no control (axe: nested-interactive); they are in the body.
    assert await row.locator("summary a, summary button").count() == 0
    await expect(row.locator(".ev-time time")).to_have_text("10 min ago")
    title = await row.locator(".ev-time time").get_attribute("title")
    assert title is not None
    assert title.endswith("UTC")
    assert await row.locator(".cat-icon").get_attribute("style") == "--cat: #2563eb"
    await row.locator("summary").click()
    # The copy button copies without closing the row.
    await row.locator(".ev-source-full button.copy").click()
    assert await row.get_attribute("open") == ""
    metadata = row.locator("pre.metadata")
    await expect(metadata).to_be_visible()
    text = await metadata.inner_text()
    assert '"campaignId": "spring-roofing"' in text
    assert '\n  "segment": 2' in text  # pretty-printed, one key a line
    await expect(row.locator("dd.message")).to_contain_text("Reply YES to confirm.")
    await screenshot(admin, artifacts, "activity-row-expanded", docs=True)

    # A stub lead shows its Airtable id in place of a name.
    await admin.goto("/admin/activity-logs?search=enrichment")
    await expect(admin.locator(f"{ROWS} .ev-lead")).to_have_text("recStubLead9")


async def test_csv_export_downloads_the_filtered_rows(admin: Page, pool) -> None:
    await seed(pool)
    await admin.goto("/admin/activity-logs")
    await admin.select_option("select[name=category]", "SMS")
    await expect(admin.locator(ROWS)).to_have_count(2)
    async with admin.expect_download() as info:
        await admin.click("#export-csv")
    download = await info.value
    assert download.suggested_filename.startswith("activity-logs-")
    text = (await download.path()).read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["Event Type"] for r in rows] == ["INBOUND_REPLY", "MESSAGE_SENT"]
    assert {r["Lead Email"] for r in rows} == {"jane.doe@example.com"}
    assert rows[1]["Message Content"].startswith("Hi Jane, your roof inspection")
    direct = await admin.request.get("/admin/activity-logs/export.csv?category=SMS")
    assert direct.headers["content-type"] == "text/csv; charset=utf-8"


async def test_a_new_event_appears_live_without_a_reload(admin: Page, pool, redis, ui) -> None:
    await seed(pool)
    await admin.clock.install()
    await admin.goto("/admin/activity-logs")
    await expect(admin.locator(ROWS)).to_have_count(7)
    await expect(admin.locator("#auto-refresh")).to_be_checked()
    await expect(admin.locator("body")).to_have_attribute("data-live", "connected")
    await admin.evaluate("window.__sameDocument = true")

    payload = body(
        "OPT_OUT",
        "recJaneDoe01",
        "Lead opted out",
        datetime.now(UTC),
        message="STOP",
        source="n8n:wf-inbound",
    )
    async with running(functools.partial(run_ingest, ui.settings)):
        await redis.xadd(ui.settings.activity_stream, {"payload": dumps(payload)})
        # Stored, announced, streamed: it appears without a timer (the clock stands still).
        await expect(admin.locator(ROWS)).to_have_count(8)
    newest = admin.locator(ROWS).first
    await expect(newest).to_contain_text("Opt-Out")
    await expect(newest).to_have_class("event fresh")
    assert await admin.evaluate("window.__sameDocument") is True  # no reload happened

    # Switched off, it stays off after a reload (remembered by the browser): no stream, and
    # no refresh when the old 30-second timer would have fired.
    await admin.click("#auto-refresh")
    await expect(admin.locator("body")).to_have_attribute("data-live", "off")
    await admin.reload()
    await expect(admin.locator("#auto-refresh")).not_to_be_checked()
    await expect(admin.locator("#refresh-note")).to_have_text("paused")

    async def streams() -> float:
        text = (await ui.http.get("/metrics")).text
        found = re.search(r"^activitylog_api_live_streams(?:\{[^}]*\})? (\S+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    await wait_for(lambda: _none(streams), message="the page's stream to close")
    await store_events(
        pool, [body("NOTE_ADDED", "recJaneDoe01", "Another note", datetime.now(UTC))]
    )
    await admin.clock.fast_forward(60_000)
    await expect(admin.locator(ROWS)).to_have_count(8)


async def _none(count) -> bool:
    return await count() == 0


async def test_keyset_pages_older_and_newer(admin: Page, pool) -> None:
    start = datetime.now(UTC) - timedelta(hours=5)
    await add_lead(pool, "recPager0001", "Paula", "Pager")
    await store_events(
        pool,
        [
            body("MESSAGE_SENT", "recPager0001", f"Bulk send {n:03d}", start + timedelta(seconds=n))
            for n in range(120)
        ],
    )
    await admin.goto("/admin/activity-logs?category=SMS")
    await expect(admin.locator(ROWS)).to_have_count(50)
    await expect(admin.locator("#result-count")).to_contain_text("120 events")
    first_page = await admin.locator(f"{ROWS} .ev-text").all_inner_texts()
    assert first_page[0] == "Bulk send 119"
    assert first_page[-1] == "Bulk send 070"
    await expect(admin.locator("#newer")).to_have_count(0)

    await admin.click("#older")
    await expect(admin.locator(f"{ROWS} .ev-text").first).to_have_text("Bulk send 069")
    assert "category=SMS" in admin.url
    assert "older=" in admin.url
    await admin.click("#older")
    await expect(admin.locator(ROWS)).to_have_count(20)
    await expect(admin.locator(f"{ROWS} .ev-text").last).to_have_text("Bulk send 000")
    await expect(admin.locator("#older")).to_have_count(0)
    await admin.click("#newer")
    await expect(admin.locator(f"{ROWS} .ev-text").first).to_have_text("Bulk send 069")
    await admin.click("#newer")
    texts = await admin.locator(f"{ROWS} .ev-text").all_inner_texts()
    assert texts == first_page


async def test_empty_state_and_phone_layout(admin: Page, pool, artifacts) -> None:
    await admin.goto("/admin/activity-logs")
    await expect(admin.locator("#empty-state")).to_contain_text("No events yet")
    await seed(pool)
    await admin.set_viewport_size({"width": 390, "height": 844})
    for path in ("/admin/activity-logs", "/admin", "/admin/retry-queue"):
        await admin.goto(path)
        # Nothing wider than the phone's screen: no sideways scrolling of the page.
        overflow = await admin.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} is {overflow}px wider than the screen"
        name = path.strip("/").replace("/", "-").replace("admin-", "") or "admin"
        await screenshot(admin, artifacts, f"phone-{name}", docs=name == "activity-logs")


async def test_lead_id_links_from_a_row_to_the_lead_page(admin: Page, pool) -> None:
    data = await seed(pool)
    await admin.goto("/admin/activity-logs?search=bob@example.com")
    await admin.locator(f"{ROWS} summary").first.click()
    await admin.locator(f"{ROWS} .ev-body a[href^='/admin/leads/']").first.click()
    await admin.wait_for_url(f"**/admin/leads/{data.bob}")
    await expect(admin.locator("#lead-name")).to_have_text("Bob Stone")
    assert uuid.UUID(admin.url.rsplit("/", 1)[-1]) == data.bob


async def test_event_text_is_shown_as_text_never_run(admin: Page, pool) -> None:
    await add_lead(pool, "recXss000001", "<b>Mallory</b>", "")
    await store_events(
        pool,
        [
            body(
                "NOTE_ADDED",
                "recXss000001",
                '<img src=x onerror="alert(1)">',
                datetime.now(UTC),
                message="<script>alert(2)</script>",
                metadata={"campaign_id": "<svg onload=alert(3)>"},
                source="ui:<i>note</i>",
            )
        ],
    )
    dialogs: list[str] = []
    admin.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await admin.goto("/admin/activity-logs")
    row = admin.locator(ROWS).first
    await expect(row.locator(".ev-text")).to_have_text("<script>alert(2)</script>")
    await expect(row.locator(".ev-lead")).to_have_text("<b>Mallory</b>")
    await expect(row.locator(".ev-tags")).to_contain_text("<svg onload=alert(3)>")
    await row.locator("summary").click()
    await expect(row.locator(".facts dd").first).to_have_text('<img src=x onerror="alert(1)">')
    assert await admin.locator("img[src=x], script:not([src])").count() == 0
    assert dialogs == []
