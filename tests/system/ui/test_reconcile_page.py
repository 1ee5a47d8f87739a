"""The Reconcile page: an uploaded SMS_Audit export against the log, gaps highlighted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Page, expect
from ui_support import screenshot

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.runtime.settings import Settings
from activitylog.use_cases.store_batch import store_batch
from activitylog_testing.databases import empty_database
from activitylog_testing.ports import free_port
from activitylog_testing.sms_audit import airtable_csv, fill_portal, log_payload, sends_on

pytestmark = pytest.mark.browser

SEPT_16 = datetime(2025, 9, 16, tzinfo=UTC)
SEPT_17 = datetime(2025, 9, 17, tzinfo=UTC)
ON_16, ON_17 = sends_on(SEPT_16, 3, "a"), sends_on(SEPT_17, 5, "b")


@pytest_asyncio.fixture
async def portal_url(infra) -> AsyncIterator[str]:
    """The portal's database with the same SMS_Audit rows as the upload."""
    async with empty_database(infra.admin_url, "portal_ui") as url:
        await fill_portal(url, [*ON_16, *ON_17])
        yield url


@pytest.fixture
def ui_settings(settings: Settings, portal_url: str) -> Settings:
    """The UI's settings (as in conftest) with the portal's database configured."""
    return settings.model_copy(
        update={
            "api_port": free_port(),
            "api_backend_timeout_s": 1.0,
            "portal_database_url": portal_url,
        }
    )


async def test_an_upload_shows_the_day_with_missing_sends(admin: Page, pool, ui, artifacts) -> None:
    on_16, on_17 = ON_16, ON_17
    async with pool.acquire() as conn:
        await store_batch(conn, [
            AcceptedEvent.accept(parse_event(log_payload(r)), received_at=SEPT_16, origin="t",
                                 raw="")
            for r in on_16
        ])  # fmt: skip
    await admin.click("nav a:has-text('Reconcile')")
    await admin.wait_for_url("**/admin/reconcile")

    # No file: the form again, a 400 naming the field.
    await admin.fill("input[name=date_from]", "2025-09-16")
    await admin.fill("input[name=date_to]", "2025-09-17")
    async with admin.expect_response("**/admin/reconcile") as answer:
        await admin.click("#reconcile-run")
    assert (await answer.value).status == 400
    await expect(admin.locator(".field-error")).to_have_text(
        "File: choose an SMS_Audit CSV export to upload."
    )

    await admin.set_input_files("#reconcile-file", files=[{
        "name": "SMS_Audit-Grid view.csv", "mimeType": "text/csv",
        "buffer": airtable_csv([*on_16, *on_17]),
    }])  # fmt: skip
    await admin.click("#reconcile-run")
    await expect(admin.locator("#reconcile-verdict")).to_contain_text(
        "5 event(s) unmatched: 5 missing from the log"
    )
    gap = admin.locator("#reconcile-table tr.gap")
    await expect(gap).to_have_count(1)
    await expect(gap).to_have_attribute("data-day", "2025-09-17")
    await expect(gap.locator("td")).to_have_text(["2025-09-17", "MESSAGE_SENT", "5", "0", "5", "0"])
    await expect(admin.locator("#reconcile-table tr.total td")).to_have_text(
        ["Total", "", "8", "3", "5", "0"]
    )
    await expect(admin.locator("#missing-in-log tbody tr")).to_have_count(5)
    await screenshot(admin, artifacts, "reconcile", full_page=True)

    # The configured portal database gives the same table.
    await admin.check("input[name=source][value=portal]")
    await admin.click("#reconcile-run")
    await expect(admin.locator("#reconcile-table tr.gap td")).to_have_text(
        ["2025-09-17", "MESSAGE_SENT", "5", "0", "5", "0"]
    )

    # The form's CSRF token is required, as on every other form.
    cookies = {c["name"]: c["value"] for c in await admin.context.cookies()}
    async with httpx.AsyncClient(base_url=ui.url, cookies=cookies) as http:
        refused = await http.post(
            "/admin/reconcile",
            files={"file": ("a.csv", b"x")},
            data={"date_from": "2025-09-16", "date_to": "2025-09-17"},
        )
    assert refused.status_code == 403
