"""The lead page: details, the timeline newest first by day, category chips, "load older"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect
from ui_data import body, seed, store_events
from ui_support import first_day_heads, screenshot, utc_today

from activitylog_testing.leads import add_lead

pytestmark = pytest.mark.browser

EVENTS = "#timeline details.event"


async def test_the_lead_page_shows_its_events_in_order(admin: Page, pool, artifacts) -> None:
    data = await seed(pool)
    drawn_from = utc_today()
    await admin.goto(f"/admin/leads/{data.jane}")
    await expect(admin.locator("#lead-name")).to_have_text("Jane Doe")
    await expect(admin.locator(".lead-card")).to_contain_text("jane.doe@example.com")
    await expect(admin.locator(".lead-card")).to_contain_text("recJaneDoe01")
    await expect(admin.locator(".lead-card")).to_contain_text("qualified")

    # Jane's four events, newest first, under Today and the older events' group; the reply
    # (no inReplyTo) under the message sent a minute before it, with its response time.
    labels = await admin.locator(f"{EVENTS} .ev-type").all_inner_texts()
    assert labels == ["Message Sent", "Inbound Reply", "Booking Confirmed", "Note Added"]
    await expect(admin.locator(EVENTS).nth(1)).to_have_class("event reply")
    await expect(admin.locator(f"{EVENTS} .ev-after")).to_have_text("(1 min later)")
    heads = await admin.locator("#timeline .day-head").all_inner_texts()
    # Jane's newest row, 10 minutes old: under Today (Yesterday just past midnight).
    newest = data.now - timedelta(minutes=10)
    assert heads[0].lower() in first_day_heads(newest, (drawn_from, utc_today()))
    assert len(heads) == len(set(heads)) >= 2  # 2 and 3 days ago: this or last week
    tops = admin.locator("#timeline details.event:not(.reply) > summary .ev-time time")
    times = [await t.get_attribute("datetime") for t in await tops.all()]
    assert times == sorted(times, reverse=True)
    # Categorised: each row carries its category's colour.
    styles = [
        await i.get_attribute("style")
        for i in await admin.locator(f"{EVENTS} summary > .cat-icon").all()
    ]
    assert styles == ["--cat: #2563eb", "--cat: #2563eb", "--cat: #16a34a", "--cat: #ea580c"]
    await screenshot(admin, artifacts, "lead", docs=True)

    # Filter chips: one category at a time, with its count.
    await expect(admin.locator("#lead-chips .chip:has-text('SMS')")).to_contain_text("2")
    await admin.click("#lead-chips .chip:has-text('Booking')")
    await expect(admin.locator(EVENTS)).to_have_count(1)
    await expect(admin.locator(EVENTS).first).to_contain_text("Calendly booking confirmed")
    # Chips combine: Booking or SMS; then Booking off again.
    await admin.click("#lead-chips .chip:has-text('SMS')")
    await expect(admin.locator(EVENTS)).to_have_count(3)
    await expect(admin.locator("#lead-chips .chip.active")).to_have_count(2)
    await admin.click("#lead-chips .chip:has-text('Booking')")
    await expect(admin.locator(EVENTS)).to_have_count(2)
    await admin.click("#lead-chips .chip:has-text('SMS')")  # off: none chosen, all shown
    await expect(admin.locator(EVENTS)).to_have_count(4)
    await admin.click("#lead-chips .chip:has-text('Campaign')")
    await expect(admin.locator("#empty-state")).to_contain_text("No events in this category")
    await admin.click("#lead-chips .chip:has-text('All')")
    await expect(admin.locator(EVENTS)).to_have_count(4)

    # The Airtable id works as the address too, and a stub shows its id as the name.
    await admin.goto("/admin/leads/recStubLead9")
    await expect(admin.locator("#lead-name")).to_have_text("recStubLead9")
    await expect(admin.locator(".lead-card .banner")).to_contain_text("Stub lead")
    response = await admin.goto("/admin/leads/recNoSuchLead")
    assert response is not None
    assert response.status == 404
    await expect(admin.locator("h1")).to_have_text("Not found")


async def test_load_older_appends_the_next_page(admin: Page, pool) -> None:
    lead = await add_lead(pool, "recBusyLead1", "Busy", "Lead")
    start = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(
        days=3
    )
    # 130 events, ten minutes apart: the pages of 50 end in the middle of a day.
    await store_events(
        pool,
        [
            body("NOTE_ADDED", "recBusyLead1", f"Note {n:03d}", start + timedelta(minutes=10 * n))
            for n in range(130)
        ],
    )
    await admin.goto(f"/admin/leads/{lead}")
    await expect(admin.locator(EVENTS)).to_have_count(50)
    await admin.evaluate("window.__sameDocument = true")
    await admin.click("#load-older")
    await expect(admin.locator(EVENTS)).to_have_count(100)
    await admin.click("#load-older")
    await expect(admin.locator(EVENTS)).to_have_count(130)
    await expect(admin.locator("#load-older")).to_have_count(0)
    assert await admin.evaluate("window.__sameDocument") is True
    texts = await admin.locator(f"{EVENTS} .ev-text").all_inner_texts()
    assert texts == [f"Note {n:03d}" for n in reversed(range(130))]
    # A day cut by a page boundary is continued, not repeated.
    days = await admin.locator("#timeline section.day").evaluate_all(
        "sections => sections.map(s => s.dataset.day)"
    )
    assert len(days) == len(set(days))
