"""How much a read may spend, and the counts the reads answer with (from the counters when
they hold the answer, else counted from the log up to a cap or a time budget)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import asyncpg

from activitylog.contract.taxonomy import Category
from activitylog.domain.reads.query import ActivityFilter, CategoryCounts, Count
from activitylog.runtime.settings import Settings
from activitylog.use_cases.counters import totals

CATEGORIES = [c.value for c in Category]


@dataclass(frozen=True, slots=True)
class ReadBudget:
    """A count is exact up to `count_cap` and within `count_budget_ms`, else estimated; a
    search page slower than `search_budget_ms` is planned again (None: no time limit)."""

    count_cap: int = 10_000
    count_budget_ms: int | None = None
    search_budget_ms: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadBudget:
        return cls(
            settings.api_count_cap, settings.api_count_budget_ms, settings.api_search_budget_ms
        )


class Counting(Enum):
    """What a page read counts besides its rows."""

    NONE = "none"
    TOTAL = "total"  # the events the filter matches
    BY_CATEGORY = "by-category"  # all and each category (the tabs); the total from them


async def count_total(
    conn: asyncpg.Connection, f: ActivityFilter, cap: int, budget_ms: int | None
) -> Count:
    return await totals.count_total(conn, f, cap, budget_ms=budget_ms)


async def category_counts(
    conn: asyncpg.Connection, f: ActivityFilter, cap: int, budget_ms: int | None
) -> CategoryCounts:
    """`all` and each category under `f`'s other filters (`f.categories` aside)."""
    found = await totals.count_by_category(conn, f, CATEGORIES, cap, budget_ms=budget_ms)
    return CategoryCounts(found["all"], {c: found[c] for c in CATEGORIES})
