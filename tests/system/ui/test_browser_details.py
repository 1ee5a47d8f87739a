"""The browser's finer points in Chromium (PRD §7): the quick filter menu (Ctrl/⌘+K), `R`,
Esc and the arrow keys; colours and icons per type; a booking's meeting, a status change's
from → to, a reply's text; reply threads with response times and high-activity days on the
lead page; time presets with their counts (This week among them); category chips combined;
the sticky filter bar; the skeleton while a list loads; the lead context's recent events and
Copy Text; open cohorts on the analytics page."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from axe_support import severe_violations
from playwright.async_api import Page, Route, expect
from ui_data import body, seed, store_events
from ui_support import screenshot

from activitylog.use_cases.analytics import keeping
from activitylog_testing.leads import add_lead

pytestmark = pytest.mark.browser

ROWS = "#event-list details.event"
EVENTS = "#timeline details.event"


async def test_quick_filter_refresh_escape_and_arrow_keys(admin: Page, pool, artifacts) -> None:
    await seed(pool)
    await admin.goto("/admin/activity-logs")
    await expect(admin.locator(ROWS)).to_have_count(7)
    await expect(admin.locator("#time-presets .preset")).to_have_count(9)

    # Ctrl+K: the menu; words narrow it; Enter applies the first choice.
    await admin.keyboard.press("Control+k")
    menu = admin.locator("#quick-filter")
    await expect(menu).to_be_visible()
    await expect(admin.locator("#quick-filter-input")).to_be_focused()
    await admin.keyboard.type("book")
    options = admin.locator("#quick-filter-list [role=option]")
    await expect(options.first).to_contain_text("Booking")
    await screenshot(admin, artifacts, "quick-filter")
    assert await severe_violations(admin) == []
    await admin.keyboard.press("Enter")
    await admin.wait_for_url("**/admin/activity-logs?category=BOOKING")
    await expect(admin.locator(ROWS)).to_have_count(1)

    # ⌘K too; ↓ moves the choice; a time preset with its count.
    await admin.keyboard.press("Meta+k")
    await expect(menu).to_be_visible()
    await admin.keyboard.type("when today")
    await expect(options.first).to_contain_text("Today")
    await admin.keyboard.press("Escape")
    await expect(menu).to_be_hidden()
    # Typed words are a search when nothing else fits.
    await admin.keyboard.press("Control+k")
    await admin.keyboard.type("roof inspection")
    await expect(options.first).to_contain_text("“roof inspection”")
    await admin.keyboard.press("Enter")
    await expect(admin.locator(ROWS)).to_have_count(0)  # BOOKING and "roof": nothing
    await expect(admin.locator("input[name=search]")).to_have_value("roof inspection")

    # Esc clears the search (and closes what is open).
    await admin.goto("/admin/activity-logs?search=jane")
    await expect(admin.locator(ROWS)).to_have_count(4)
    await admin.click("#type-picker summary")
    await expect(admin.locator("#type-picker")).to_have_attribute("open", "")
    await admin.locator("body").click(position={"x": 5, "y": 5})
    await admin.keyboard.press("Escape")
    await expect(admin.locator("#type-picker")).not_to_have_attribute("open", "")
    await expect(admin.locator("input[name=search]")).to_have_value("")
    await expect(admin.locator(ROWS)).to_have_count(7)
    assert "search=" not in admin.url
    # In the search box, Esc clears it too.
    await admin.fill("input[name=search]", "bob")
    await expect(admin.locator(ROWS)).to_have_count(2)
    await admin.keyboard.press("Escape")
    await expect(admin.locator("input[name=search]")).to_have_value("")
    await expect(admin.locator(ROWS)).to_have_count(7)

    # ↓ / ↑ move between rows as j / k do.
    await admin.locator("body").click(position={"x": 5, "y": 5})
    await admin.keyboard.press("ArrowDown")
    await admin.keyboard.press("ArrowDown")
    await admin.keyboard.press("ArrowDown")
    await admin.keyboard.press("ArrowUp")
    current = admin.locator(f"{ROWS}.current")
    await expect(current).to_have_count(1)
    assert await current.get_attribute("id") == await admin.locator(ROWS).nth(1).get_attribute("id")

    # R refreshes now (live updates off, so only R can bring it).
    await admin.click("#auto-refresh")
    await expect(admin.locator("#auto-refresh")).not_to_be_checked()
    await store_events(pool, [body("NOTE_ADDED", "recJaneDoe01", "Fresh note", datetime.now(UTC))])
    await admin.locator("body").click(position={"x": 5, "y": 5})
    await admin.keyboard.press("r")
    await expect(admin.locator(ROWS)).to_have_count(8)
    await expect(admin.locator(ROWS).first).to_contain_text("Fresh note")
    await expect(admin.locator(ROWS).first).to_have_class("event fresh")
    # The help lists them all.
    await admin.keyboard.press("?")
    await expect(admin.locator("#shortcuts")).to_contain_text("Quick filter")
    await expect(admin.locator("#shortcuts")).to_contain_text("Refresh now")


async def test_types_have_their_colour_icon_and_details(admin: Page, pool) -> None:
    await add_lead(pool, "recTypes00001", "Tia", "Types")
    now = datetime.now(UTC).replace(microsecond=0)
    long_reply = "Yes, Tuesday works. " * 12  # longer than a row's 160-character snippet
    await store_events(
        pool,
        [
            body("MESSAGE_FAILED", "recTypes00001", "SMS failed", now - timedelta(minutes=1)),
            body(
                "BOOKING_CONFIRMED",
                "recTypes00001",
                "Calendly booking",
                now - timedelta(minutes=2),
                metadata={
                    "startTime": "2030-03-05T15:30:00Z",
                    "eventUri": "https://calendly.example/events/EV123",
                },
                source="system:calendly",
            ),
            body(
                "BOOKING_CANCELLED",
                "recTypes00001",
                "Booking cancelled",
                now - timedelta(minutes=3),
                metadata={"startTime": "2030-03-04T10:00:00Z"},
                source="system:calendly",
            ),
            body(
                "STATUS_CHANGED",
                "recTypes00001",
                "Status changed",
                now - timedelta(minutes=4),
                metadata={"from": "New", "to": "Contacted"},
                source="ui:status",
            ),
            body(
                "INBOUND_REPLY",
                "recTypes00001",
                "Reply",
                now - timedelta(minutes=5),
                message=long_reply,
            ),
            body("MESSAGE_DELIVERED", "recTypes00001", "Delivered", now - timedelta(minutes=6)),
        ],
    )
    await admin.goto("/admin/activity-logs")

    def row(label: str):
        return admin.locator(ROWS, has=admin.locator(".ev-type", has_text=label))

    async def icon(label: str) -> tuple[str | None, str | None]:
        badge = row(label).locator("summary > .cat-icon")
        return await badge.get_attribute("style"), await badge.locator("use").get_attribute("href")

    # Failed and cancelled are red; each type its own icon; delivered keeps SMS blue.
    assert await icon("Message Failed") == ("--cat: #dc2626", "#i-x-circle")
    assert await icon("Booking Cancelled") == ("--cat: #dc2626", "#i-calendar-x")
    assert await icon("Booking Confirmed") == ("--cat: #16a34a", "#i-calendar")
    assert await icon("Message Delivered") == ("--cat: #2563eb", "#i-check-circle")
    assert await icon("Inbound Reply") == ("--cat: #2563eb", "#i-reply")

    booked = row("Booking Confirmed")
    await expect(booked.locator(".ev-booking")).to_contain_text("Tue 5 Mar 2030, 15:30 UTC")
    await expect(booked.locator(".ev-booking")).to_contain_text("meeting EV123")
    await booked.locator("summary").click()
    link = booked.locator(".ev-meeting a")
    await expect(link).to_have_attribute("href", "https://calendly.example/events/EV123")
    await expect(row("Booking Cancelled").locator(".ev-booking time")).to_have_css(
        "text-decoration-line", "line-through"
    )
    status = row("Status Changed").locator(".ev-status")
    await expect(status.locator(".status-pill")).to_have_text(["New", "Contacted"])
    reply = row("Inbound Reply").locator(".reply-text")
    await expect(reply).to_have_text(long_reply.strip())
    assert await severe_violations(admin) == []


async def test_threads_response_times_and_a_busy_day_on_the_lead_page(admin: Page, pool) -> None:
    lead = await add_lead(pool, "recThreads001", "Theo", "Threads")
    now = datetime.now(UTC).replace(microsecond=0)
    day = (now - timedelta(days=2)).replace(hour=12, minute=0, second=0)
    sent = day - timedelta(hours=3)
    await store_events(
        pool,
        [
            body("MESSAGE_SENT", "recThreads001", "First message", sent, message="Hello?"),
            # 1 h 27 min later, no inReplyTo: under the message.
            body(
                "INBOUND_REPLY",
                "recThreads001",
                "Reply",
                sent + timedelta(hours=1, minutes=27),
                message="Hi!",
            ),
            # A day and more after the latest message: on its own.
            body(
                "MESSAGE_SENT", "recThreads001", "Old message", day - timedelta(days=3), message="?"
            ),
            body(
                "INBOUND_REPLY",
                "recThreads001",
                "Reply",
                day - timedelta(days=1, hours=20),
                message="Late answer",
            ),
            # Twelve notes in one afternoon: a high-activity day.
            *(
                body(
                    "NOTE_ADDED", "recThreads001", f"Busy note {n}", day + timedelta(minutes=10 * n)
                )
                for n in range(12)
            ),
        ],
    )
    await admin.goto(f"/admin/leads/{lead}")
    replies = admin.locator(f"{EVENTS}.reply")
    await expect(replies).to_have_count(1)
    await expect(replies.locator(".ev-text")).to_contain_text("Hi!")
    await expect(replies.locator(".ev-after")).to_have_text("(1 h 27 min later)")
    first = admin.locator(EVENTS, has_text="First message")
    assert "Hi!" in await first.evaluate("r => r.nextElementSibling.textContent")
    late = admin.locator(EVENTS, has_text="Late answer")
    await expect(late).to_have_class("event")
    busy = admin.locator("#timeline .busy-day")
    await expect(busy).to_have_count(1)
    # The twelve notes, the message and its reply: fourteen that day.
    await expect(busy).to_contain_text("High activity: 14 events on")
    # The mark heads that day's rows.
    assert "Busy note 11" in await busy.evaluate("b => b.nextElementSibling.textContent")


async def test_presets_with_counts_combined_chips_sticky_bar_and_skeleton(
    admin: Page, pool
) -> None:
    await seed(pool)
    await admin.goto("/admin/activity-logs")
    presets = admin.locator("#time-presets .preset")
    await expect(presets).to_have_count(9)
    labels = await presets.evaluate_all("ps => ps.map(p => p.childNodes[0].textContent.trim())")
    assert labels[:5] == ["Any time", "Today", "Yesterday", "This week", "This month"]
    await expect(admin.locator("#time-presets [data-preset=any] b")).to_have_text("7")
    # The seed: 3 events in the last 24 hours (Jane's SMS and reply, Bob's enrolment).
    await expect(admin.locator("#time-presets [data-preset='24h'] b")).to_have_text("3")
    week = admin.locator("#time-presets [data-preset=week]")
    monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday())
    expected = sum(
        1
        for ago in (
            timedelta(minutes=10),
            timedelta(minutes=9),
            timedelta(days=2),
            timedelta(days=3),
            timedelta(hours=3),
            timedelta(hours=30),
            timedelta(days=8),
        )
        if (datetime.now(UTC) - ago).date() >= monday
    )
    await expect(week.locator("b")).to_have_text(str(expected))
    await week.click()
    await admin.wait_for_url("**range=custom**")
    assert f"dateFrom={monday.isoformat()}T00%3A00" in admin.url
    await expect(admin.locator(ROWS)).to_have_count(expected)
    await expect(admin.locator("#time-presets [data-preset=week]")).to_have_class("preset active")

    # Category chips combine: SMS, then Booking as well.
    await admin.goto("/admin/activity-logs")
    await admin.click("#category-chips [data-category=SMS]")
    await admin.wait_for_url("**category=SMS")
    await expect(admin.locator(ROWS)).to_have_count(2)
    await admin.click("#category-chips [data-category=BOOKING]")
    await admin.wait_for_url("**category=SMS%2CBOOKING")
    await expect(admin.locator(ROWS)).to_have_count(3)
    await expect(admin.locator("#category-chips .chip.active")).to_have_count(2)
    await expect(admin.locator("select[name=category] option:checked")).to_have_text(
        "SMS or Booking"
    )
    # And one of them off again.
    await admin.click("#category-chips [data-category=SMS]")
    await admin.wait_for_url("**category=BOOKING")
    await expect(admin.locator(ROWS)).to_have_count(1)

    # The filter bar stays in view as the list scrolls.
    await store_events(
        pool,
        [
            body(
                "NOTE_ADDED",
                "recBobStone1",
                f"Filler {n}",
                datetime.now(UTC) - timedelta(hours=5 + n),
            )
            for n in range(30)
        ],
    )
    await admin.goto("/admin/activity-logs")
    await admin.evaluate("window.scrollTo(0, 1500)")
    await admin.wait_for_function("window.scrollY > 1000")
    box = await admin.locator("#filters").bounding_box()
    assert box is not None
    assert abs(box["y"] - 54) <= 1, box

    # A skeleton shows while the list loads.
    release = asyncio.Event()

    async def slow(route: Route) -> None:
        if route.request.headers.get("x-partial"):
            await release.wait()
        await route.continue_()

    await admin.route("**/admin/activity-logs?**", slow)
    await admin.select_option("select[name=category]", "MANUAL")
    await expect(admin.locator("#results-slot .skeleton")).to_be_visible()
    await expect(admin.locator("#results")).to_be_hidden()
    release.set()
    await expect(admin.locator("#results-slot .skeleton")).to_have_count(0)
    await expect(admin.locator(ROWS)).to_have_count(31)
    await admin.unroute("**/admin/activity-logs?**")


async def test_lead_context_recent_events_and_copy_text(admin: Page, pool) -> None:
    await seed(pool)
    await store_events(
        pool,
        [
            body(
                "NOTE_ADDED",
                "recJaneDoe01",
                f"Extra {n}",
                datetime.now(UTC) - timedelta(days=5 + n),
            )
            for n in range(3)
        ],
    )
    await admin.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await admin.goto("/admin/activity-logs?search=inspection")
    row = admin.locator(ROWS).first
    await row.locator("summary").click()
    recent = row.locator(".lead-recent .recent li")
    await expect(recent).to_have_count(5)  # Jane has 7: the 5 most recent, newest first
    texts = await recent.locator(".recent-type").all_inner_texts()
    assert texts == [
        "Inbound Reply",
        "Message Sent",
        "Booking Confirmed",
        "Note Added",
        "Note Added",
    ]
    await row.locator("button.copy-text").click()
    copied = await admin.evaluate("navigator.clipboard.readText()")
    lines = copied.splitlines()
    assert lines[0].startswith("Message Sent · Jane Doe · ")
    assert lines[0].endswith(" UTC")
    assert lines[1] == "Reminder SMS sent"
    assert lines[2].startswith("Hi Jane, your roof inspection")
    assert lines[-1] == "Source: n8n:wf-sms (execution exec-jane-1)"
    assert await severe_violations(admin) == []


async def test_open_cohorts_are_marked_open_not_failed(admin: Page, pool, artifacts) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    this_week = now.date() - timedelta(days=now.weekday())
    weeks_ago = this_week - timedelta(days=21)
    old_sent = datetime.combine(weeks_ago, datetime.min.time(), UTC) + timedelta(days=1)
    events = []
    for n in range(4):
        lead = f"recCohortOld{n:02d}"
        events.append(body("MESSAGE_SENT", lead, "Sent", old_sent, metadata={"campaign_id": "c1"}))
        if n < 2:
            events.append(
                body("INBOUND_REPLY", lead, "Reply", old_sent + timedelta(hours=2), message="ok")
            )
    for n in range(3):  # this week: messaged, no reply yet
        lead = f"recCohortNew{n:02d}"
        events.append(
            body(
                "MESSAGE_SENT",
                lead,
                "Sent",
                now - timedelta(minutes=5),
                metadata={"campaign_id": "c1"},
            )
        )
    await store_events(pool, events)
    async with pool.acquire() as conn:
        await keeping.drain_all(conn)
    await admin.goto("/admin/analytics")
    opened = admin.locator(f"#open-cohorts li[data-week='{this_week.isoformat()}']")
    await expect(opened).to_contain_text("open")
    await expect(
        admin.locator(f"#open-cohorts li[data-week='{weeks_ago.isoformat()}']")
    ).to_have_count(0)
    # The open week's leads are "window still open", not "not within".
    bars = admin.locator("#chart-weekly g.bar")
    last = bars.last
    await expect(last.locator("title")).to_contain_text("open")
    await expect(last.locator("rect[fill='#bfdbfe']")).to_have_count(1)
    await expect(last.locator("rect[fill='#d0d5dd']")).to_have_count(0)
    # The rate lines leave the open week out: no 0 % point, the closed week at 50 %.
    points = admin.locator("#chart-rate-lines g.point title")
    titles = await points.all_text_contents()
    open_title = next(t for t in titles if this_week.isoformat() in t)
    assert open_title == f"Week of {this_week.isoformat()} (open)"
    closed = next(t for t in titles if weeks_ago.isoformat() in t)
    assert "All campaigns: 50%" in closed
    await screenshot(admin, artifacts, "analytics-open-cohort", full_page=True)
    assert await severe_violations(admin) == []
