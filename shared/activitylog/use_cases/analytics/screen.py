"""The analytics screen's read: the four answers, the campaigns to choose from and the busiest
campaigns' weekly reply rates, read side by side on connections of their own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import asyncpg

from activitylog.domain.analytics.answers import (
    DeliveryAnswer,
    FunnelAnswer,
    RepliesAnswer,
    ReplyRow,
    TimingAnswer,
)
from activitylog.storage import analytics
from activitylog.storage.analytics import CountFilter
from activitylog.use_cases.analytics import reports

T = TypeVar("T")

# The campaigns drawn as lines of their own on the reply-rate chart, busiest first.
TOP_CAMPAIGNS = 5


@dataclass(frozen=True, slots=True)
class AnalyticsScreen:
    replies: RepliesAnswer
    funnel: FunnelAnswer
    delivery: DeliveryAnswer
    timing: TimingAnswer
    campaigns: list[str]
    # Each busiest campaign's reply rows by week.
    per_campaign: dict[str, dict[date, ReplyRow]]


async def read_analytics_screen(pool: asyncpg.Pool, f: CountFilter, hours: int) -> AnalyticsScreen:
    """Everything the screen shows for `f` and the reply window `hours`."""

    async def own(read: Callable[..., Awaitable[T]], *args: Any) -> T:
        async with pool.acquire() as conn:
            return await read(conn, *args)

    # One after another on one connection the page took 370-410 ms at 50 M events (each
    # answer sums tens of thousands of count rows, and each busiest campaign had one read).
    replies, funnel, delivery, timing, campaigns, weekly = await asyncio.gather(
        own(reports.replies, f, hours),
        own(reports.funnel, f),
        own(reports.delivery, f),
        own(reports.timing, f),
        own(analytics.campaigns, f.client_id),
        own(reports.weekly_by_campaign, f, hours, TOP_CAMPAIGNS),
    )
    # Busiest first, as the chart's lines are drawn.
    sent = {c["campaign"]: c["sent"] for c in replies["byCampaign"]}
    per_campaign = dict(sorted(weekly.items(), key=lambda kv: (-sent.get(kv[0], 0), kv[0])))
    return AnalyticsScreen(replies, funnel, delivery, timing, campaigns, per_campaign)
