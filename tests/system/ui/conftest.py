"""Fixtures of the admin UI tests: the real api under uvicorn, an admin user, Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from ui_support import ADMIN_EMAIL, CHROMIUM, CHROMIUM_ARGS, admin_password_hash, log_in

from activitylog.runtime.settings import Settings
from activitylog.storage import admin_users
from activitylog_testing.ports import free_port
from activitylog_testing.serving import ServedApi, serving_api


@pytest.fixture
def ui_settings(settings: Settings) -> Settings:
    # No growing delay between sign-in failures (tests/system/ui/test_login_devices.py has its own).
    return settings.model_copy(
        update={"api_port": free_port(), "api_backend_timeout_s": 1.0, "login_delay_s": 0.0}
    )


@pytest_asyncio.fixture
async def ui(ui_settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[ServedApi]:
    """The api (and so the UI) for this test, served over real HTTP; an admin exists."""
    async with pool.acquire() as conn:
        await admin_users.upsert(conn, ADMIN_EMAIL, admin_password_hash())
    async with serving_api(ui_settings) as served:
        yield served


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One Debian Chromium for the whole run (each test gets its own context)."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture
async def context(browser: Browser, ui: ServedApi) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(
        base_url=ui.url, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        await context.close()


@pytest_asyncio.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest_asyncio.fixture
async def admin(page: Page) -> Page:
    """A page signed in as the admin, on the dashboard."""
    await log_in(page)
    await page.wait_for_url("**/admin")
    return page
