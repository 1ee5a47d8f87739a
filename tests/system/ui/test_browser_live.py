"""Live updates in Chromium: new events arrive without a reload through the API, the ingest
and the event stream; only what is new is fetched; a toast "N new events • scroll to top",
the reader's place kept, the arrivals highlighted; on the lead page a reply lands under its
message with its response time."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from axe_support import severe_violations
from playwright.async_api import Page, expect
from ui_data import body, seed, store_events
from ui_support import screenshot

from activitylog.storage import api_keys
from activitylog.use_cases.access.keys import Role, generate_key, hash_key, key_prefix
from activitylog_ingest.service import run_ingest
from activitylog_testing.leads import add_lead
from activitylog_testing.serving import running

pytestmark = pytest.mark.browser

ROWS = "#event-list details.event"
EVENTS = "#timeline details.event"


async def _writer(ui, pool) -> httpx.AsyncClient:
    key = generate_key()
    async with pool.acquire() as conn:
        await api_keys.create(
            conn,
            name="ui-live",
            role=str(Role.INGEST),
            client_id=None,
            key_hash=hash_key(key),
            key_prefix=key_prefix(key),
        )
    return ui.client(key)


async def _log(http: httpx.AsyncClient, *events: dict) -> list[str]:
    """Log through the API, answered once stored (Prefer: wait)."""
    response = await http.post(
        "/api/internal/log-activity", json=list(events), headers={"Prefer": "wait=5"}
    )
    assert response.status_code == 201, response.text
    return [r["activityId"] for r in response.json()]


async def test_new_events_arrive_with_a_toast_and_the_reader_keeps_their_place(
    admin: Page, pool, ui, artifacts
) -> None:
    await seed(pool)
    now = datetime.now(UTC)
    await store_events(
        pool,
        [
            body("NOTE_ADDED", "recBobStone1", f"Older note {n:02d}", now - timedelta(hours=4 + n))
            for n in range(40)
        ],
    )
    partials: list[str] = []
    admin.on("request", lambda r: partials.append(r.url) if r.headers.get("x-partial") else None)
    await admin.goto("/admin/activity-logs")
    await expect(admin.locator(ROWS)).to_have_count(47)
    await expect(admin.locator("body")).to_have_attribute("data-live", "connected")

    # The reader scrolls down to the 30th row.
    reading = admin.locator(f"#{await admin.locator(ROWS).nth(30).get_attribute('id')}")
    await reading.scroll_into_view_if_needed()
    await admin.evaluate("window.scrollBy(0, 200)")
    before = await reading.bounding_box()
    scrolled = await admin.evaluate("window.scrollY")
    assert before is not None
    assert scrolled > 300

    async with await _writer(ui, pool) as http, running(functools.partial(run_ingest, ui.settings)):
        ids = await _log(
            http,
            body(
                "INBOUND_REPLY", "recJaneDoe01", "Reply received", datetime.now(UTC), message="Yes!"
            ),
            body("NOTE_ADDED", "recBobStone1", "Called back", datetime.now(UTC)),
        )
        toast = admin.locator("#live-toast")
        await expect(toast).to_be_visible()
        await expect(toast).to_have_text("2 new events • scroll to top")
    await expect(admin.locator(ROWS)).to_have_count(49)
    # The rows the reader was looking at did not move on the screen.
    after = await reading.bounding_box()
    assert after is not None
    assert abs(after["y"] - before["y"]) < 2, (before, after)
    # Only what is new was fetched: by the stream, no page or list reloaded.
    assert partials == []

    await screenshot(admin, artifacts, "live-toast")
    assert await severe_violations(admin) == []
    await admin.click("#live-toast-button")
    await expect(toast).to_be_hidden()
    await admin.wait_for_function("window.scrollY === 0")
    fresh = admin.locator(f"{ROWS}.fresh")
    await expect(fresh).to_have_count(2)
    assert set(await fresh.evaluate_all("rs => rs.map(r => r.dataset.id)")) == set(ids)
    assert await admin.locator(ROWS).first.get_attribute("data-id") in ids

    # At the top, a new event simply appears (highlighted), no toast.
    async with await _writer(ui, pool) as http, running(functools.partial(run_ingest, ui.settings)):
        (third,) = await _log(http, body("NOTE_ADDED", "recJaneDoe01", "Third", datetime.now(UTC)))
    await expect(admin.locator(ROWS).first).to_have_attribute("data-id", third)
    await expect(admin.locator(ROWS).first).to_have_class("event fresh")
    await expect(toast).to_be_hidden()


async def test_a_filtered_list_gets_only_matching_events(admin: Page, pool, ui) -> None:
    await seed(pool)
    await admin.goto("/admin/activity-logs?category=SMS&search=jane")
    await expect(admin.locator(ROWS)).to_have_count(2)
    await expect(admin.locator("body")).to_have_attribute("data-live", "connected")
    async with await _writer(ui, pool) as http, running(functools.partial(run_ingest, ui.settings)):
        ids = await _log(
            http,
            body("NOTE_ADDED", "recJaneDoe01", "Not an SMS", datetime.now(UTC)),
            body("MESSAGE_SENT", "recBobStone1", "Another lead's SMS", datetime.now(UTC)),
            body("MESSAGE_SENT", "recJaneDoe01", "The one to show", datetime.now(UTC)),
        )
    await expect(admin.locator(ROWS)).to_have_count(3)
    await expect(admin.locator(ROWS).first).to_have_attribute("data-id", ids[2])
    # The search words are marked in the arrived row as in the others.
    await expect(admin.locator(ROWS).first.locator(".ev-lead mark")).to_have_text("Jane")


async def test_a_reply_lands_under_its_message_on_the_lead_page(admin: Page, pool, ui) -> None:
    lead = await add_lead(pool, "recLiveReply01", "Rhea", "Reply")
    now = datetime.now(UTC).replace(microsecond=0)
    await store_events(
        pool,
        [
            body("MESSAGE_SENT", "recLiveReply01", "Asked", now - timedelta(hours=2), message="Q?"),
            body("NOTE_ADDED", "recLiveReply01", "A note", now - timedelta(hours=1)),
        ],
    )
    await admin.goto(f"/admin/leads/{lead}")
    await expect(admin.locator(EVENTS)).to_have_count(2)
    await expect(admin.locator("body")).to_have_attribute("data-live", "connected")
    asked = admin.locator(EVENTS, has_text="Asked")
    async with await _writer(ui, pool) as http, running(functools.partial(run_ingest, ui.settings)):
        (reply,) = await _log(
            http,
            body(
                "INBOUND_REPLY",
                "recLiveReply01",
                "Reply received",
                now - timedelta(hours=2) + timedelta(hours=1, minutes=27),
                message="Sounds good",
            ),
        )
        (note,) = await _log(http, body("NOTE_ADDED", "recLiveReply01", "Newest", now))
    arrived = admin.locator(f"#ev-{reply}")
    await expect(arrived).to_have_class("event reply fresh")
    await expect(arrived.locator(".ev-after")).to_have_text("(1 h 27 min later)")
    # Right under the message it answers (the note in between stays above the message).
    assert await asked.evaluate("r => r.nextElementSibling.id") == f"ev-{reply}"
    await expect(admin.locator(EVENTS).first).to_have_attribute("data-id", note)
    await expect(admin.locator("#timeline .day-head").first).to_have_text("Today")


async def test_a_delivery_sits_under_its_send_when_drawn_and_when_it_arrives(
    admin: Page, pool, ui
) -> None:
    lead = await add_lead(pool, "recLiveSend01", "Sol", "Send")
    now = datetime.now(UTC).replace(microsecond=0)
    message = {"provider": "simpletexting", "messageId": "st-live-send-1"}
    sent_at = now - timedelta(hours=2)
    await store_events(
        pool,
        [
            body("MESSAGE_SENT", "recLiveSend01", "Sent", sent_at, message="Hi!", metadata=message),
            body("NOTE_ADDED", "recLiveSend01", "A note", now - timedelta(hours=1)),
            # A report names its message, not its lead's campaign: it joins the send.
            body(
                "MESSAGE_DELIVERED",
                "recLiveSend01",
                "Delivered",
                sent_at + timedelta(seconds=40),
                metadata=message,
            ),
        ],
    )
    await admin.goto(f"/admin/leads/{lead}")
    await expect(admin.locator(EVENTS)).to_have_count(3)
    sent = admin.locator(EVENTS, has_text="Hi!")
    delivered = admin.locator(f"{EVENTS}[data-type=MESSAGE_DELIVERED]")
    await expect(delivered).to_have_class("event reply")
    await expect(delivered.locator(".ev-after")).to_have_text("(40 s later)")
    assert await sent.evaluate("r => r.nextElementSibling.dataset.type") == "MESSAGE_DELIVERED"
    await expect(admin.locator("body")).to_have_attribute("data-live", "connected")
    async with await _writer(ui, pool) as http, running(functools.partial(run_ingest, ui.settings)):
        (clicked,) = await _log(
            http,
            body(
                "LINK_CLICKED",
                "recLiveSend01",
                "Clicked",
                sent_at + timedelta(minutes=3),
                metadata=message,
            ),
        )
    arrived = admin.locator(f"#ev-{clicked}")
    await expect(arrived).to_have_class("event reply fresh")
    await expect(arrived.locator(".ev-after")).to_have_text("(3 min later)")
    # Under the send, after the delivery it already had; the note stays on top.
    assert await delivered.evaluate("r => r.nextElementSibling.id") == f"ev-{clicked}"
    await expect(admin.locator(EVENTS).first).to_contain_text("A note")
