"""The dashboard (charts, counts, health) and the error state when PostgreSQL is away."""

from __future__ import annotations

import functools

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from ui_data import seed
from ui_support import ADMIN_EMAIL, admin_password_hash, log_in, screenshot

from activitylog.storage import admin_users
from activitylog_api.service import run_api
from activitylog_testing.ports import free_port
from activitylog_testing.serving import answering, running
from tcp_proxy import proxy_for_database

pytestmark = pytest.mark.browser


async def test_dashboard_charts_counts_and_health(page: Page, pool, artifacts) -> None:
    # Seeded before signing in: the login page starts counting the closed days, which the
    # dashboard then keeps for a few minutes.
    await seed(pool)
    await log_in(page)
    await page.wait_for_url("**/admin")
    admin = page
    await expect(admin.locator("#health .health-title")).to_have_text("System healthy")

    hourly = admin.locator("#chart-hourly g.bar")
    daily = admin.locator("#chart-daily g.bar")
    await expect(hourly).to_have_count(48)
    await expect(daily).to_have_count(30)
    hourly_totals = await hourly.evaluate_all("bars => bars.map(b => +b.dataset.total)")
    daily_totals = await daily.evaluate_all("bars => bars.map(b => +b.dataset.total)")
    # 48 h: Jane's two SMS, Bob's enrolment and his AI reply; 30 days: all seven.
    assert sum(hourly_totals) == 4
    assert sum(daily_totals) == 7
    assert hourly_totals[-1] + hourly_totals[-2] >= 2  # the SMS of ten minutes ago
    title = await hourly.nth(47).locator("title").text_content()
    assert title is not None
    assert "UTC" in title

    tiles = admin.locator("#category-counts .category-tile")
    await expect(tiles).to_have_count(6)
    counts = dict(
        zip(
            await tiles.locator(".tile-label").all_inner_texts(),
            await tiles.locator(".tile-value").all_inner_texts(),
            strict=True,
        )
    )
    assert counts == {
        "SMS": "2",
        "Campaign": "1",
        "Booking": "1",
        "Manual": "1",
        "Conversation": "1",
        "System": "1",
    }
    await screenshot(admin, artifacts, "dashboard", docs=True, full_page=True)
    await tiles.filter(has_text="Booking").click()
    await admin.wait_for_url("**/admin/activity-logs?category=BOOKING&range=30d")
    await expect(admin.locator("#event-list details.event")).to_have_count(1)


async def test_an_empty_dashboard(admin: Page) -> None:
    await admin.goto("/admin")
    await expect(admin.locator("#empty-state")).to_contain_text("No events in the last 30 days")
    await expect(admin.locator("#category-counts .tile-value").first).to_have_text("0")


async def test_database_down_shows_a_banner_not_a_stack_trace(
    browser: Browser, ui_settings, pool, artifacts
) -> None:
    """The UI's own api, connected to PostgreSQL through a proxy that the test cuts."""
    proxy, proxied_url = proxy_for_database(ui_settings.database_url or "")
    await proxy.start()
    settings = ui_settings.model_copy(update={"database_url": proxied_url, "api_port": free_port()})
    url = f"http://127.0.0.1:{settings.api_port}"
    async with pool.acquire() as conn:
        await admin_users.upsert(conn, ADMIN_EMAIL, admin_password_hash())
    async with running(functools.partial(run_api, settings)), httpx.AsyncClient() as http:
        await answering(http, f"{url}/health/live", timeout=20, message="the api to listen")
        context = await browser.new_context(base_url=url, viewport={"width": 1280, "height": 800})
        try:
            page = await context.new_page()
            await log_in(page)
            await page.wait_for_url("**/admin")

            await proxy.cut()
            for path in ("/admin", "/admin/activity-logs", "/admin/retry-queue"):
                response = await page.goto(path)
                assert response is not None
                assert response.status == 503, path
                banner = page.locator(".banner.error")
                await expect(banner).to_contain_text("The database (PostgreSQL) cannot be reached")
                html = await page.content()
                assert "Traceback" not in html
                assert "asyncpg" not in html
            await screenshot(page, artifacts, "database-down")

            await proxy.restore()
            # Back by itself: the same session works again once the database is reachable.
            response = await page.goto("/admin/activity-logs")
            assert response is not None
            assert response.status == 200
            await expect(page.locator(".banner.error")).to_have_count(0)
        finally:
            await context.close()
            await proxy.cut()
