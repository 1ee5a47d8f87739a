"""The activity browser as a troubleshooting tool, in Chromium: sorting, chip counts, several
types, source kinds, zoned date presets, lead suggestions, marks, Copy JSON, the n8n link,
the lead's context and the keyboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest
from playwright.async_api import Page, expect
from ui_data import body, seed, store_events
from ui_support import screenshot

from activitylog.runtime.settings import Settings
from activitylog_testing.leads import add_lead
from activitylog_testing.ports import free_port

pytestmark = pytest.mark.browser

ROWS = "#event-list details.event"
N8N = "https://n8n.example.com"


@pytest.fixture
def ui_settings(settings: Settings) -> Settings:
    """As the shared fixture, with N8N_BASE_URL set (a trailing slash is tolerated)."""
    return settings.model_copy(
        update={"api_port": free_port(), "api_backend_timeout_s": 1.0, "n8n_base_url": N8N + "/"}
    )


async def settle(page: Page) -> None:
    await page.wait_for_function("!document.body.classList.contains('loading')")


async def labels(page: Page) -> list[str]:
    return await page.locator(f"{ROWS} .ev-type").all_inner_texts()


async def test_sorting_chip_counts_types_and_source_kinds(admin: Page, pool, artifacts) -> None:
    await seed(pool)
    await admin.goto("/admin/activity-logs")
    await expect(admin.locator(ROWS)).to_have_count(7)
    # Every category chip counts the events under the current filter.
    chips = admin.locator(".results-head .chip")
    await expect(chips.first).to_have_text("All 7")
    await expect(admin.locator(".results-head .chip", has_text="SMS")).to_contain_text("2")

    # Event column: A→Z, then Z→A; the URL keeps the order.
    await admin.click("#sort-event")
    await expect(admin.locator("#sort-event")).to_have_attribute("aria-current", "true")
    names = await labels(admin)
    assert names == sorted(names)
    assert "sort=event" in admin.url
    await admin.click("#sort-event")
    await expect(admin.locator("#sort-event")).to_contain_text("↓")
    assert await labels(admin) == sorted(names, reverse=True)
    # Time column: oldest first after a click on the (current) time order.
    await admin.goto("/admin/activity-logs")
    await admin.click("#sort-time")
    times = await admin.locator(f"{ROWS} .ev-time time").evaluate_all(
        "ts => ts.map(t => t.getAttribute('datetime'))"
    )
    assert times == sorted(times)

    # Several types at once; the chips then count those types only.
    await admin.goto("/admin/activity-logs")
    await admin.click("#type-picker summary")
    await admin.check("input[name=eventType][value=INBOUND_REPLY]")
    await expect(admin.locator(ROWS)).to_have_count(1)
    await admin.check("input[name=eventType][value=NOTE_ADDED]")
    await expect(admin.locator(ROWS)).to_have_count(2)
    assert admin.url.count("eventType=") == 2
    await expect(admin.locator(".results-head .chip").first).to_have_text("All 2")
    await admin.reload()
    await expect(admin.locator(ROWS)).to_have_count(2)
    await expect(admin.locator("#type-count")).to_have_text("2")

    # Source by kind ("n8n" is every workflow) and by prefix.
    await admin.goto("/admin/activity-logs?source=n8n")
    await expect(admin.locator(ROWS)).to_have_count(4)
    await admin.goto("/admin/activity-logs?source=system:cal")
    await expect(admin.locator(ROWS)).to_have_count(1)
    await admin.goto("/admin/activity-logs?sort=nonsense")
    await expect(admin.locator("#filter-error")).to_contain_text("sort")

    # Lead column: by the name shown, as a person reads it ("ana" before "Bob", where byte
    # order would put every capital first; a stub by its Airtable id), each lead's events
    # together, newest first; a second click reverses the leads.
    await add_lead(pool, "recAnaLopez1", "ana", "Lopez")
    await store_events(pool, [body("NOTE_ADDED", "recAnaLopez1", "Called back", datetime.now(UTC))])
    by_name = ["ana Lopez", "Bob Stone", "Jane Doe", "recStubLead9"]
    await admin.goto("/admin/activity-logs")
    for expected in (by_name, by_name[::-1]):
        await admin.click("#sort-lead")
        await expect(admin.locator(f"{ROWS} .ev-lead").first).to_have_text(expected[0])
        shown = await admin.locator(f"{ROWS} .ev-lead").all_inner_texts()
        assert list(dict.fromkeys(shown)) == expected
        times = await admin.locator(f"{ROWS}").evaluate_all(
            "rs => rs.map(r => [r.querySelector('.ev-lead').textContent,"
            " r.querySelector('.ev-time time').getAttribute('datetime')])"
        )
        for name in by_name:
            own = [t for n, t in times if n.strip() == name]
            assert own == sorted(own, reverse=True), name


async def test_presets_follow_the_admins_time_zone(admin: Page, pool) -> None:
    """Today in Pacific/Kiritimati (UTC+14) and in Pacific/Pago_Pago (UTC-11) are different
    UTC spans; an event just after one zone's midnight is today there only."""
    now = datetime.now(UTC)
    east, west = ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Pacific/Pago_Pago")
    east_midnight = now.astimezone(east).replace(hour=0, minute=0, second=0, microsecond=0)
    west_midnight = now.astimezone(west).replace(hour=0, minute=0, second=0, microsecond=0)
    stamps = {"east": east_midnight.astimezone(UTC), "west": west_midnight.astimezone(UTC)}
    await store_events(
        pool,
        [
            body("NOTE_ADDED", "recZone0001", f"just after {name} midnight", when)
            for name, when in stamps.items()
        ],
    )

    async def today_rows() -> list[str]:
        await admin.goto("/admin/activity-logs?range=today")
        return await admin.locator(f"{ROWS} .ev-text").all_inner_texts()

    for zone, name in ((east, "east"), (west, "west")):
        await admin.goto("/admin/preferences")
        await admin.fill("#time-zone", zone.key)
        await admin.click("button[type=submit]:has-text('Save')")
        await admin.wait_for_url("**/admin/activity-logs")
        await expect(admin.locator("#user-zone")).to_have_text(zone.key)
        start = stamps[name]
        end = (start.astimezone(zone) + timedelta(days=1)).astimezone(UTC)
        expected = {f"just after {n} midnight" for n, t in stamps.items() if start <= t < end}
        shown = await today_rows()
        assert set(shown) == expected
    await admin.goto("/admin/preferences")
    await admin.fill("#time-zone", "Mars/Olympus")
    await admin.click("button[type=submit]:has-text('Save')")
    await expect(admin.locator(".banner.error")).to_contain_text("time_zone")


async def test_search_marks_lead_suggestions_and_row_details(admin: Page, pool, artifacts) -> None:
    data = await seed(pool)
    await admin.context.grant_permissions(["clipboard-read", "clipboard-write"])
    # A metadata value is found and marked.
    await admin.goto("/admin/activity-logs?search=spring-roofing")
    await expect(admin.locator(ROWS)).to_have_count(1)
    await expect(admin.locator(f"{ROWS} .ev-tags mark")).to_have_text("spring-roofing")
    # A name prefix finds the lead; the match is marked in the lead's name.
    await admin.goto("/admin/activity-logs?search=jan")
    await expect(admin.locator(ROWS)).to_have_count(4)
    await expect(admin.locator(f"{ROWS} .ev-lead mark").first).to_have_text("Jan")

    # A misspelt name still finds its lead (trigram word similarity).
    await admin.goto("/admin/activity-logs?search=Stonne")
    await expect(admin.locator(ROWS)).to_have_count(2)
    for name in await admin.locator(f"{ROWS} .ev-lead").all_inner_texts():
        assert name == "Bob Stone"

    # The lead box suggests leads by name; choosing one filters by its id.
    await admin.goto("/admin/activity-logs")
    await admin.locator("#lead-input").press_sequentially("bob st", delay=30)
    await expect(admin.locator("#lead-suggestions option")).to_have_count(1)
    option = admin.locator("#lead-suggestions option").first
    await expect(option).to_have_attribute("value", str(data.bob))
    assert "Bob Stone" in (await option.get_attribute("label") or "")
    await admin.fill("#lead-input", str(data.bob))
    await expect(admin.locator(ROWS)).to_have_count(2)

    # A row: exact time on hover, Copy JSON, the n8n execution link, the lead's context.
    await admin.goto("/admin/activity-logs?search=inspection")
    row = admin.locator(ROWS).first
    title = await row.locator(".ev-time time").get_attribute("title")
    assert title is not None
    assert title.endswith("UTC")
    await row.locator("summary").click()
    await expect(row.locator(".ev-body")).to_contain_text(title)
    link = row.locator("a.n8n-link")
    await expect(link).to_have_attribute("href", f"{N8N}/workflow/wf-sms/executions/exec-jane-1")
    context = row.locator(".lead-ctx")
    await expect(context).to_contain_text("Jane Doe")
    await expect(context).to_contain_text("qualified")
    await expect(context.locator(".ctx-counts")).to_contain_text("4")
    await row.locator("button.copy-json").click()
    copied = orjson.loads(await admin.evaluate("navigator.clipboard.readText()"))
    assert copied["executionId"] == "exec-jane-1"
    assert copied["metadata"]["campaignId"] == "spring-roofing"
    assert copied["leadId"] == str(data.jane)
    await screenshot(admin, artifacts, "activity-search-detail", docs=True)
    # Without an execution id there is no link.
    await admin.goto("/admin/activity-logs?search=Calendly")
    await admin.locator(f"{ROWS} summary").first.click()
    await expect(admin.locator(f"{ROWS} a.n8n-link")).to_have_count(0)


async def test_keyboard_shortcuts(admin: Page, pool) -> None:
    await seed(pool)
    await admin.goto("/admin/activity-logs")
    await expect(admin.locator(ROWS)).to_have_count(7)
    await admin.keyboard.press("j")
    await expect(admin.locator(f"{ROWS}.current")).to_have_count(1)
    first = await admin.locator(f"{ROWS}.current").get_attribute("id")
    await admin.keyboard.press("j")
    await admin.keyboard.press("j")
    await admin.keyboard.press("k")
    current = admin.locator(f"{ROWS}.current")
    assert await current.get_attribute("id") == await admin.locator(ROWS).nth(1).get_attribute("id")
    assert first == await admin.locator(ROWS).nth(0).get_attribute("id")
    await admin.keyboard.press("Enter")
    await expect(admin.locator(ROWS).nth(1)).to_have_attribute("open", "")
    await admin.keyboard.press("Enter")
    await expect(admin.locator(ROWS).nth(1)).not_to_have_attribute("open", "")
    # ? shows the shortcuts; Escape closes them.
    await admin.keyboard.press("?")
    await expect(admin.locator("#shortcuts")).to_be_visible()
    await admin.keyboard.press("Escape")
    await expect(admin.locator("#shortcuts")).to_be_hidden()
    # e exports the current filter.
    async with admin.expect_download() as download:
        await admin.keyboard.press("e")
    assert (await download.value).suggested_filename.startswith("activity-logs-")
    # / focuses the search box; letters typed there are text, not shortcuts.
    await admin.keyboard.press("/")
    await expect(admin.locator("input[name=search]")).to_be_focused()
    await admin.keyboard.type("jek")
    await expect(admin.locator("input[name=search]")).to_have_value("jek")
