"""The lead timeline in Chromium: day groups, threads, "Load older (N more)" and its
live updates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.async_api import Page, expect
from ui_data import body, store_events
from ui_support import first_day_heads, screenshot, utc_today

from activitylog_api.ui.lead_page import day_group
from activitylog_testing.leads import add_lead

pytestmark = pytest.mark.browser

EVENTS = "#timeline details.event"


def test_day_groups_name_today_yesterday_the_weeks_then_months() -> None:
    today = date(2026, 12, 3)  # a Thursday
    assert day_group(today, today)[1] == "Today"
    assert day_group(date(2026, 12, 2), today)[1] == "Yesterday"
    assert day_group(date(2026, 11, 30), today)[1] == "This week"  # Monday
    assert day_group(date(2026, 11, 29), today)[1] == "Last week"
    assert day_group(date(2026, 11, 23), today)[1] == "Last week"
    assert day_group(date(2026, 11, 22), today) == ("2026-11", "November 2026")
    assert day_group(date(2025, 12, 31), today) == ("2025-12", "December 2025")


async def test_threads_older_count_and_auto_refresh(admin: Page, pool, artifacts) -> None:
    lead = await add_lead(pool, "recThread001", "Tess", "Reply", email="tess@example.com")
    now = datetime.now(UTC).replace(microsecond=0)
    question = body(
        "MESSAGE_SENT",
        "recThread001",
        "Asked about the visit",
        now - timedelta(minutes=30),
        message="Does Tuesday suit you?",
        metadata={"provider": "simpletexting", "messageId": "SM-question"},
    )
    unrelated = body("NOTE_ADDED", "recThread001", "A note in between", now - timedelta(minutes=20))
    reply = body(
        "INBOUND_REPLY",
        "recThread001",
        "Reply received",
        now - timedelta(minutes=10),
        message="Tuesday is fine",
        metadata={"inReplyTo": "SM-question"},
    )
    follow_up = body(
        "AI_RESPONSE_SENT",
        "recThread001",
        "AI answered",
        now - timedelta(minutes=5),
        message="Booked!",
        metadata={"inReplyTo": reply["eventId"]},
    )
    history = [
        body("NOTE_ADDED", "recThread001", f"Old note {i}", now - timedelta(days=40 + i))
        for i in range(58)
    ]
    await store_events(pool, [question, unrelated, reply, follow_up, *history])

    drawn_from = utc_today()
    await admin.goto(f"/admin/leads/{lead}")
    rows = admin.locator(EVENTS)
    await expect(rows).to_have_count(50)
    # The reply sits under the question it answers, the AI's answer under the reply.
    texts = await admin.locator(f"{EVENTS} .ev-text").all_inner_texts()
    assert [t.strip("↳ ").strip() for t in texts[:4]] == [
        "A note in between",
        "Does Tuesday suit you?",
        "Tuesday is fine",
        "Booked!",
    ]
    assert await rows.nth(2).get_attribute("class") == "event reply"
    assert await rows.nth(3).get_attribute("class") == "event reply"
    heads = await admin.locator("#timeline .day-head").all_inner_texts()
    # The first row, the note 20 minutes old: under Today (Yesterday just past midnight).
    newest = now - timedelta(minutes=20)
    assert heads[0].lower() in first_day_heads(newest, (drawn_from, utc_today()))
    assert len(heads) >= 2

    # 62 events, 50 shown: the button says how many older remain.
    await expect(admin.locator("#load-older")).to_have_text("Load older (12 more)")
    await screenshot(admin, artifacts, "lead-timeline", docs=True)

    # Live (a fake clock, so no timer can be what brings it): a new event appears on top,
    # marked fresh; the rows shown stay, so 12 older remain.
    await admin.clock.install()
    await admin.reload()
    await expect(rows).to_have_count(50)
    await expect(admin.locator("body")).to_have_attribute("data-live", "connected")
    await store_events(
        pool, [body("NOTE_ADDED", "recThread001", "Arrived just now", datetime.now(UTC))]
    )
    # Stored directly (no announcement): the stream's own look at the database finds it.
    await expect(admin.locator(f"{EVENTS}.fresh")).to_contain_text(
        "Arrived just now", timeout=15_000
    )
    await expect(rows).to_have_count(51)
    await expect(admin.locator("#load-older")).to_have_text("Load older (12 more)")

    # Load older: the remaining 12 follow, no more button.
    await admin.click("#load-older")
    await expect(rows).to_have_count(63)
    await expect(admin.locator("#load-older")).to_have_count(0)
    # Once older pages are loaded the list no longer replaces itself: no refresh is asked.
    asked: list[str] = []
    admin.on("request", lambda r: asked.append(r.url) if r.headers.get("x-partial") else None)
    await admin.clock.fast_forward(31_000)
    await admin.evaluate("1")  # a round trip after the timers have run
    assert asked == []
    await expect(rows).to_have_count(63)
