"""The health panel names silent sources and manages the watch rules (add, bad input, remove)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect
from ui_support import screenshot

from activitylog.domain.counters.rollups import Basis, CounterKey, Grain, truncate
from activitylog.domain.watch.rules import WatchRule, Window, parse_window
from activitylog.runtime.backoff import Backoff
from activitylog.storage import event_counts, watch_rules
from activitylog_retry.alerts import Webhook
from activitylog_retry.watcher import WatchConfig, Watcher

pytestmark = pytest.mark.browser


async def announce_a_silence(pool) -> None:
    """n8n:wf-sms last stored 47 minutes ago against a 30 minute rule, as the watcher sees it."""
    when = datetime.now(UTC) - timedelta(minutes=47)
    async with pool.acquire() as conn:
        await event_counts.add(
            conn,
            {
                CounterKey(Basis.ARRIVAL, g, truncate(when, g), "MESSAGING", None, src, None): 5
                for g in (Grain.MINUTE, Grain.HOUR)
                for src in ("n8n:wf-sms", "n8n:wf-email")
            },
        )
        await watch_rules.add(conn, WatchRule("n8n:wf-sms", timedelta(minutes=30)))
        await watch_rules.add(conn, WatchRule("n8n:*", timedelta(hours=2)))
    watcher = Watcher(
        pool,
        Webhook(None, 1.0),
        WatchConfig(1, 0, 0, 20),
        backoff=Backoff(0.1, 1),
        stop=asyncio.Event(),
    )
    assert len((await watcher.check()).announced) == 1


async def test_a_silent_source_on_the_health_panel_and_rules_managed_there(
    admin: Page, pool, artifacts
) -> None:
    await announce_a_silence(pool)
    await admin.goto("/admin")
    await expect(admin.locator("#health .health-title")).to_have_text("System degraded")
    await expect(admin.locator("#health .reasons")).to_contain_text(
        "source n8n:wf-sms silent for 4"
    )
    silent = admin.locator("#silent-sources tr.silent")
    await expect(silent).to_have_count(1)
    await expect(silent).to_have_attribute("data-source", "n8n:wf-sms")
    await expect(silent).to_contain_text("silent for 4")
    await admin.locator("#watch details.watch-rules summary").click()
    await expect(admin.locator("#watch-rules li")).to_have_count(2)
    await screenshot(admin, artifacts, "health-silent", docs=True)

    form = admin.locator("#watch-add")
    await form.locator("input[name=source]").fill("n8n:wf-email")
    await form.locator("input[name=every]").fill("soon")
    await form.locator("button[type=submit]").click()
    await expect(admin.locator(".banner.error")).to_contain_text(
        "Watch rule not added: every 'soon' is not a duration"
    )

    await admin.locator("#watch details.watch-rules summary").click()
    await form.locator("input[name=source]").fill("n8n:wf-email")
    await form.locator("input[name=every]").fill("45m")
    await form.locator("input[name=between]").fill("08:00-20:00")
    await form.locator("input[name=tz]").fill("America/New_York")
    await form.locator("button[type=submit]").click()
    await expect(admin.locator(".banner.success")).to_contain_text(
        "Watching n8n:wf-email: at least every 45m between 08:00-20:00 America/New_York."
    )
    async with pool.acquire() as conn:
        kept = {r.pattern: r for r in await watch_rules.list_rules(conn)}
    assert kept["n8n:wf-email"].window == parse_window("08:00-20:00", "America/New_York")
    assert isinstance(kept["n8n:wf-email"].window, Window)

    admin.on("dialog", lambda dialog: dialog.accept())
    await admin.locator("#watch details.watch-rules summary").click()
    rule = admin.locator("#watch-rules li[data-pattern='n8n:*']")
    await rule.locator("button").click()
    await expect(admin.locator(".banner.success")).to_contain_text("No longer watching n8n:*.")
    async with pool.acquire() as conn:
        assert {r.pattern for r in await watch_rules.list_rules(conn)} == {
            "n8n:wf-sms",
            "n8n:wf-email",
        }
