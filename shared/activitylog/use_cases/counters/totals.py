"""The counts the browser and its tabs show: from the counters when the filter is one they
keep (client, category, type), else counted from the log, capped or estimated."""

from __future__ import annotations

import asyncpg

from activitylog.domain.reads.query import ActivityFilter, Count
from activitylog.storage import event_counts
from activitylog.storage.activity_log import counts as activity_counts


def from_counters(f: ActivityFilter) -> bool:
    """True when the counters hold the answer: no lead, source, time, execution, author or
    search."""
    return not (
        f.lead_id
        or f.lead_airtable_id
        or f.source
        or f.source_prefix
        or f.execution_id
        or f.created_by
        or f.since
        or f.before
        or f.search
    )


async def count_total(
    conn: asyncpg.Connection, f: ActivityFilter, cap: int, *, budget_ms: int | None = None
) -> Count:
    """How many events match `f`: exact from the counters, else capped (see `count_capped`)."""
    if not from_counters(f):
        return await activity_counts.count_capped(conn, f, cap, budget_ms=budget_ms)
    totals = await event_counts.totals_by_category(
        conn, client_id=f.client_id, event_types=f.event_types
    )
    return Count(sum(n for c, n in totals.items() if not f.categories or c in f.categories), False)


async def count_by_category(
    conn: asyncpg.Connection,
    f: ActivityFilter,
    categories: list[str],
    cap: int,
    *,
    budget_ms: int | None = None,
) -> dict[str, Count]:
    """Counts for `all` and each category (`f.categories` ignored), as `count_total`."""
    if not from_counters(f):
        return await activity_counts.count_by_category(
            conn, f, categories, cap, budget_ms=budget_ms
        )
    totals = await event_counts.totals_by_category(
        conn, client_id=f.client_id, event_types=f.event_types
    )
    counts = {"all": Count(sum(totals.values()), False)}
    counts.update({c: Count(totals.get(c, 0), False) for c in categories})
    return counts
