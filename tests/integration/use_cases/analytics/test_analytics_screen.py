"""The analytics screen's read: its busiest campaigns' weekly lines, read at once, agree with
each campaign's own answer."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

import asyncpg

from activitylog.storage.analytics import CountFilter
from activitylog.use_cases.analytics import keeping, reports
from activitylog.use_cases.analytics.screen import TOP_CAMPAIGNS, read_analytics_screen
from activitylog.use_cases.store_batch import store_batch
from activitylog_testing.analytics_history import CAMPAIGN, LATE_REPLY, THREE_MESSAGES, accepted


async def test_the_busiest_campaigns_lines_are_each_campaigns_own_weekly_answer(
    pool: asyncpg.Pool,
) -> None:
    rng = random.Random(7)
    # Seven campaigns, two of them tied on leads (so on messages sent): ties go by name.
    leads = {"autumn": 3, "bonus": 1, "cold": 4, "drip": 2, "early": 2, "final": 1, "gold": 5}
    async with pool.acquire() as conn:
        n = 0
        for campaign, count in leads.items():
            for _ in range(count):
                history = rng.choice([THREE_MESSAGES, LATE_REPLY])
                weeks_later = 168.0 * rng.randrange(4)  # cohorts in several weeks
                moved = [
                    (kind, hours + weeks_later, campaign if c == CAMPAIGN else c, carrier)
                    for kind, hours, c, carrier in history
                ]
                await store_batch(conn, accepted(f"recScreen{n:04d}", moved))
                n += 1
        await keeping.drain_all(conn)
        f, hours = CountFilter(), 24
        screen = await read_analytics_screen(pool, f, hours)

        sent = {c["campaign"]: c["sent"] for c in screen.replies["byCampaign"]}
        busiest = sorted(sent, key=lambda c: (-sent[c], c))[:TOP_CAMPAIGNS]
        assert list(screen.per_campaign) == busiest
        assert busiest[:3] == ["gold", "cold", "autumn"]  # "drip" ties "early", by name
        for campaign in busiest:
            own = await reports.replies(conn, replace(f, campaign=campaign), hours)
            expected = {
                date.fromisoformat(w["week"]): {
                    k: w[k] for k in ("sent", "replied", "rate", "repliedAtAll")
                }
                for w in own["byWeek"]
            }
            assert screen.per_campaign[campaign] == expected, campaign
        assert set(screen.campaigns) >= set(leads)
