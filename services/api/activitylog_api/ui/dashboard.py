"""/admin: events per hour (48 h) and per day (30 days) as SVG, counts by category, health."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Template

from activitylog.contract.taxonomy import CATEGORY_STYLE, Category, CategoryStyle
from activitylog.domain.counters.rollups import Grain
from activitylog.storage import event_counts
from activitylog_api.state import ApiServices
from activitylog_api.ui.charts import Bar, Series, stacked_bars
from activitylog_api.ui.guard import SESSION, page_context
from activitylog_api.ui.health_view import health_for_page

HOURS = 48
DAYS = 30


@dataclass(frozen=True, slots=True)
class CategoryCount:
    category: str
    style: CategoryStyle
    count: int
    share: float  # percent of the largest category, for the bar under the number


def _grid(
    rows: Iterable[Any], starts: list[datetime]
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Per category, one count per bucket start (zeros where nothing happened)."""
    index = {start: i for i, start in enumerate(starts)}
    grid = {c.value: [0] * len(starts) for c in Category}
    totals = dict.fromkeys(grid, 0)
    for row in rows:
        i = index.get(row["bucket_start"].astimezone(UTC))
        category = row["event_category"]
        if i is None or category not in grid:
            continue
        grid[category][i] += int(row["n"])
        totals[category] += int(row["n"])
    return grid, totals


def _series(grid: dict[str, list[int]]) -> list[Series]:
    return [Series(CATEGORY_STYLE[c].label, CATEGORY_STYLE[c].hex, grid[c.value]) for c in Category]


@get("/admin", guards=[SESSION], include_in_schema=False)
async def dashboard(
    request: Request[Any, Any, Any], services: NamedDependency[ApiServices]
) -> Template:
    now = datetime.now(UTC)
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    hour_starts = [this_hour - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]
    day_starts = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]

    # From the counters the write path keeps: a backfill of past days shows at once, and
    # the cost follows the buckets drawn, not the events in them.
    async def buckets(grain: Grain, since: datetime, until: datetime) -> list[Any]:
        async with services.pool.acquire() as conn:
            return await event_counts.per_bucket(conn, grain, since, until)

    # The health figures and the two charts are independent reads: at once, on their own
    # connections.
    health, hourly_rows, daily_rows = await asyncio.gather(
        health_for_page(services),
        buckets(Grain.HOUR, hour_starts[0], this_hour + timedelta(hours=1)),
        buckets(Grain.DAY, day_starts[0], today + timedelta(days=1)),
    )
    hourly, _ = _grid(hourly_rows, hour_starts)
    daily, by_category = _grid(daily_rows, day_starts)

    hour_bars = [
        Bar(
            tick=f"{s:%H}h" if s.hour % 6 == 0 else "",
            title=f"{s:%a %d %b, %H:00}–{(s + timedelta(hours=1)):%H:00} UTC",
        )
        for s in hour_starts
    ]
    day_bars = [
        Bar(tick=f"{s:%d %b}" if i % 5 == 4 or i == DAYS - 1 else "", title=f"{s:%A %d %B %Y}")
        for i, s in enumerate(day_starts)
    ]
    largest = max(by_category.values(), default=0) or 1
    context = page_context(
        request,
        "dashboard",
        health=health,
        hourly_chart=stacked_bars(hour_bars, _series(hourly), label="Events per hour, 48 hours"),
        daily_chart=stacked_bars(day_bars, _series(daily), label="Events per day, 30 days"),
        hourly_total=sum(sum(v) for v in hourly.values()),
        daily_total=sum(by_category.values()),
        legend=[(c.value, CATEGORY_STYLE[c]) for c in Category],
        category_counts=[
            CategoryCount(
                c.value,
                CATEGORY_STYLE[c],
                by_category[c.value],
                round(100 * by_category[c.value] / largest, 1),
            )
            for c in sorted(Category, key=lambda c: -by_category[c.value])
        ],
    )
    return Template(
        template_name="dashboard.html", context=context, headers={"Cache-Control": "no-store"}
    )
