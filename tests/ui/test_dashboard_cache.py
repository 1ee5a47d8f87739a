"""The dashboard's closed-day counts: counted once, served from memory, refreshed when old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ui_data import body, store_events

from activitylog_api.ui import dashboard_cache
from activitylog_api.ui.dashboard_cache import ClosedDays, window
from support import wait_for


def total(rows) -> int:
    return sum(int(r["n"]) for r in rows)


async def test_closed_days_are_cached_then_refreshed_in_the_background(pool, monkeypatch) -> None:
    since, until = window()
    yesterday = until - timedelta(hours=12)
    await store_events(pool, [body("NOTE_ADDED", "recCache0001", "first", yesterday)])
    cache = ClosedDays()
    assert total(await cache.rows(pool, since, until)) == 1

    # A late event for a past day: the fresh cache does not see it…
    await store_events(pool, [body("NOTE_ADDED", "recCache0001", "late", yesterday)])
    assert total(await cache.rows(pool, since, until)) == 1
    # …once the entry is older than the TTL, the stale figures are served while a
    # background count runs, and the next views get the new figures.
    monkeypatch.setattr(dashboard_cache, "TTL_S", 0.0)
    assert total(await cache.rows(pool, since, until)) in (1, 2)
    monkeypatch.setattr(dashboard_cache, "TTL_S", 300.0)

    async def refreshed() -> bool:
        return total(await cache.rows(pool, since, until)) == 2

    await wait_for(refreshed, message="the background refresh")

    # A new day is a new window: counted at once, not served from the old one.
    later_since, later_until = window(datetime.now(UTC) + timedelta(days=1))
    rows = await cache.rows(pool, later_since, later_until)
    assert total(rows) == 2
    assert all(later_since <= r["bucket_start"] < later_until for r in rows)
