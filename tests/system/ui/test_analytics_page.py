"""The analytics page: hand-computed figures, filters, links to the browser, a demo screenshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from axe_support import severe_violations
from playwright.async_api import Page, expect
from ui_support import screenshot

from activitylog.use_cases.analytics import keeping
from activitylog.use_cases.store_batch import store_batch
from activitylog_cli.demo import load
from activitylog_testing.analytics_history import LATE_REPLY, THREE_MESSAGES, accepted

pytestmark = pytest.mark.browser


async def test_figures_filters_and_links(admin: Page, pool, artifacts) -> None:
    async with pool.acquire() as conn:
        await store_batch(conn, accepted("recUiAnalytic01", THREE_MESSAGES))
        await store_batch(conn, accepted("recUiAnalytic02", LATE_REPLY))
        await keeping.drain_all(conn)  # what the retry service does within a second
    await admin.click("nav >> text=Analytics")
    await admin.wait_for_url("**/admin/analytics")
    # Lead 1 replied exactly 24 h after its 2nd message, lead 2 one second too late.
    await expect(admin.locator("#reply-rate")).to_have_text("50.0%")
    await expect(admin.locator("#reply-sent")).to_have_text("2")
    counts = await admin.locator("#funnel .funnel-count").all_inner_texts()
    assert counts == ["2", "2", "1", "1", "1", "0"]
    await expect(admin.locator("#funnel [data-step=delivered]")).to_contain_text("1 opted out")
    carriers = await admin.locator("#carrier-table tbody tr td:first-child").all_inner_texts()
    assert carriers == ["tmobile", "verizon"]
    await expect(admin.locator("#failure-rate")).to_have_text("25.0%")
    await expect(admin.locator("#chart-weekly g.bar")).to_have_count(1)
    # One week: the overall rate and the campaign's, each a single point.
    await expect(admin.locator("#chart-rate-lines polyline")).to_have_count(2)
    title = await admin.locator("#chart-rate-lines g.point title").text_content()
    assert title == "Week of 2026-03-02\nAll campaigns: 50%\nspring: 50%"
    await expect(admin.locator("#chart-reply-time g.bar")).to_have_count(12)
    await screenshot(admin, artifacts, "analytics-hand-computed", full_page=True)
    assert await severe_violations(admin) == []

    # 48 hours: both replies count.
    await admin.select_option("select[name=hours]", "48")
    await admin.click("#analytics-filters button[type=submit]")
    await expect(admin.locator("#reply-rate")).to_have_text("100.0%")

    # A period after the cohorts' week: nothing.
    await admin.fill("input[name=dateFrom]", "2026-04-01")
    await admin.click("#analytics-filters button[type=submit]")
    await expect(admin.locator("#reply-sent")).to_have_text("0")

    # Each number opens the browser on the events behind it.
    await admin.goto("/admin/analytics")
    await admin.click("#failure-rate")
    await admin.wait_for_url("**/admin/activity-logs?eventType=MESSAGE_FAILED**")
    await expect(admin.locator("#event-list details.event")).to_have_count(1)


async def test_the_demo_history_for_the_readme(admin: Page, ui_settings, artifacts) -> None:
    await load(ui_settings.database_url or "", 400, datetime.now(UTC))
    await admin.goto("/admin/analytics")
    await expect(admin.locator("#chart-weekly g.bar")).not_to_have_count(0)
    # The overall line and the five busiest campaigns'.
    assert await admin.locator("#chart-rate-lines polyline").count() >= 6
    assert await admin.locator("#carrier-table tbody tr").count() >= 3
    # This week's cohort can still reply: marked open, its rate not drawn as a fall to 0 %.
    this_week = (datetime.now(UTC) - timedelta(days=datetime.now(UTC).weekday())).date()
    await expect(
        admin.locator(f"#open-cohorts li[data-week='{this_week.isoformat()}']")
    ).to_contain_text("open")
    titles = await admin.locator("#chart-rate-lines g.point title").all_text_contents()
    assert f"Week of {this_week.isoformat()} (open)" in titles
    await screenshot(admin, artifacts, "analytics", docs=True, full_page=True)
