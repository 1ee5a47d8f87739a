"""axe-core on every admin page, in Chromium: no serious or critical violation."""

from __future__ import annotations

import pytest
from axe_support import severe_violations
from playwright.async_api import Page, expect
from ui_data import seed
from ui_support import log_in

pytestmark = pytest.mark.browser


async def test_no_serious_or_critical_violations_on_any_admin_page(page: Page, pool) -> None:
    data = await seed(pool)
    found: dict[str, list[str]] = {}
    await page.goto("/admin/login")
    found["login"] = await severe_violations(page)
    await log_in(page)
    await page.wait_for_url("**/admin")
    # Every page the navigation offers (pages other issues add included), then the rest.
    nav = await page.locator("header nav a").evaluate_all("as => as.map(a => a.pathname)")
    paths = [
        *nav,
        "/admin/activity-logs?search=jane&range=7d",
        f"/admin/leads/{data.jane}",
        "/admin/preferences",
        "/admin/retry-queue",
    ]
    for path in dict.fromkeys(paths):
        await page.goto(path)
        await expect(page.locator("main")).to_be_visible()
        found[path] = await severe_violations(page)
    # The browser with a row open (its details and lead context) and the shortcuts dialog.
    await page.goto("/admin/activity-logs")
    await page.locator("details.event summary").first.click()
    await expect(page.locator(".lead-ctx")).to_be_visible()
    await page.click("#type-picker summary")
    found["activity, row and type picker open"] = await severe_violations(page)
    await page.keyboard.press("Escape")
    await page.locator("body").click(position={"x": 5, "y": 5})
    await page.keyboard.press("?")
    await expect(page.locator("#shortcuts")).to_be_visible()
    found["activity, shortcuts dialog"] = await severe_violations(page)
    failing = {k: v for k, v in found.items() if v}
    assert not failing, "\n".join(f"{k}: {v}" for k, v in failing.items())
    assert len(found) >= 8
