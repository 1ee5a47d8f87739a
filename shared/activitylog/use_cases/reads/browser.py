"""The activity browser's one read, for `GET /api/admin/activity-logs` (and `/counts`,
`/export.csv`) and the admin UI's /admin/activity-logs alike: a page of events in the
chosen order, its counts, and the whole filtered set in chunks for the CSV export."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import asyncpg

from activitylog.domain.reads.cursor import decode_cursor, encode_cursor
from activitylog.domain.reads.paging import keyset_page
from activitylog.domain.reads.query import ActivityFilter, CategoryCounts, Count, Ordering, SortKey
from activitylog.domain.reads.rows import StoredEvent
from activitylog.storage.activity_log.events import browse_events
from activitylog.storage.activity_log.planner import estimates_shared
from activitylog.use_cases.reads.counting import (
    Counting,
    ReadBudget,
    category_counts,
    count_total,
)

# The cursor of a browser page names its order: `browse:timestamp:desc`, `browse:lead:asc`…
CURSOR_KIND = "browse"
# What the admin UI's cursors were called before the JSON API and the UI shared this read.
_OLD_UI_KIND = "ui-browse"


def cursor_kind(ordering: Ordering) -> str:
    return f"{CURSOR_KIND}:{ordering.name}"


def _cursor_kinds(ordering: Ordering) -> tuple[str, ...]:
    """Today's kind first, then the UI's older spellings (its time order had one for both
    directions), so links saved before still load."""
    kinds = [cursor_kind(ordering), f"{_OLD_UI_KIND}:{ordering.name}"]
    if ordering.key == SortKey.TIMESTAMP:
        kinds.append(_OLD_UI_KIND)
    return tuple(kinds)


@dataclass(frozen=True, slots=True)
class BrowserQuery:
    """A page of the browser: its filter and order, and where it starts: at `offset`, after
    `cursor` (a page's `next_cursor`) or, in time order only, before `newer` (a page's
    `previous_cursor`)."""

    filter: ActivityFilter = ActivityFilter()
    ordering: Ordering = Ordering()
    cursor: str | None = None
    newer: str | None = None
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True, slots=True)
class BrowserPage:
    events: list[StoredEvent]
    has_more: bool  # more rows follow in the page's order
    next_cursor: str | None  # the rows after this page (None: the last page)
    previous_cursor: str | None  # in time order, the rows before this page, if any
    total: Count | None = None  # the events the filter matches (Counting.NONE: None)
    categories: CategoryCounts | None = None  # Counting.BY_CATEGORY: the tabs


@dataclass(frozen=True, slots=True)
class _Start:
    after: tuple[Any, ...] | None
    newer: bool  # read backwards from `after` (the rows before a page)


def _start(query: BrowserQuery) -> _Start:
    """Where the page starts, from its cursor (read before any query: a bad one is a
    BadQuery and nothing is read)."""
    by_time = query.ordering.key == SortKey.TIMESTAMP
    newer = query.newer if by_time else None
    cursor = newer or query.cursor
    if not cursor:
        return _Start(None, False)
    kinds = _cursor_kinds(query.ordering)
    field = "newer" if newer else "cursor"
    after = decode_cursor(cursor, kinds, query.ordering.position_types(), field=field)
    return _Start(after, bool(newer))


async def _page(
    conn: asyncpg.Connection, query: BrowserQuery, start: _Start, budget: ReadBudget
) -> BrowserPage:
    view = query.ordering
    # Rows before a page are read in the other direction from its edge, then turned round.
    read = view.reversed() if start.newer else view
    fetched = await browse_events(
        conn,
        query.filter,
        ordering=read,
        after=start.after,
        limit=query.limit + 1,
        offset=0 if start.after is not None else query.offset,
        budget_ms=budget.search_budget_ms,
    )
    kind = cursor_kind(view)
    page = keyset_page(fetched, query.limit, read.position)
    onward = page.next_cursor(kind)
    back = None
    if start.after is not None and page.rows and view.key == SortKey.TIMESTAMP:
        back = encode_cursor(kind, read.position(page.rows[0]))
    if start.newer:
        return BrowserPage(page.rows[::-1], back is not None, back, onward)
    return BrowserPage(page.rows, page.has_more, onward, back)


async def read_browser(
    pool: asyncpg.Pool,
    query: BrowserQuery,
    budget: ReadBudget = ReadBudget(),
    *,
    counting: Counting = Counting.TOTAL,
) -> BrowserPage:
    """A page of the browser and, at once on a second connection, its counts: the total
    (Counting.TOTAL) or every category's (Counting.BY_CATEGORY, the total then being the
    chosen categories' sum). A bad cursor raises BadQuery before anything is read."""
    start = _start(query)

    async def page() -> BrowserPage:
        async with pool.acquire() as conn:
            return await _page(conn, query, start, budget)

    async def counts() -> Count | CategoryCounts | None:
        if counting is Counting.NONE:
            return None
        async with pool.acquire() as conn:
            cap, budget_ms = budget.count_cap, budget.count_budget_ms
            if counting is Counting.TOTAL:
                return await count_total(conn, query.filter, cap, budget_ms)
            return await category_counts(conn, query.filter, cap, budget_ms)

    with estimates_shared():  # the page and its counts often plan the same filter
        found, counted = await asyncio.gather(page(), counts())
    if isinstance(counted, CategoryCounts):
        return replace(found, total=counted.of(query.filter.categories), categories=counted)
    return replace(found, total=counted)


async def count_categories(
    pool: asyncpg.Pool, flt: ActivityFilter, budget: ReadBudget = ReadBudget()
) -> CategoryCounts:
    """The browser's tabs: `all` and each category under the filter (its categories aside)."""
    async with pool.acquire() as conn:
        return await category_counts(conn, flt, budget.count_cap, budget.count_budget_ms)


async def export_chunks(
    pool: asyncpg.Pool,
    flt: ActivityFilter,
    ordering: Ordering,
    *,
    chunk_rows: int = 1_000,
    budget_ms: int | None = None,
) -> AsyncIterator[list[StoredEvent]]:
    """Every matching event, in chunks of `chunk_rows`, one keyset read each. The first
    chunk is read before this returns (an outage is then the caller's to answer); a
    connection is held only for each chunk's read, so a slow consumer never pins one."""
    first = await _chunk(pool, flt, ordering, None, chunk_rows, budget_ms)
    return _chunks(pool, flt, ordering, first, chunk_rows, budget_ms)


async def _chunk(
    pool: asyncpg.Pool,
    flt: ActivityFilter,
    ordering: Ordering,
    after: tuple[Any, ...] | None,
    chunk_rows: int,
    budget_ms: int | None,
) -> list[StoredEvent]:
    async with pool.acquire() as conn:
        return await browse_events(
            conn, flt, ordering=ordering, after=after, limit=chunk_rows, budget_ms=budget_ms
        )


async def _chunks(
    pool: asyncpg.Pool,
    flt: ActivityFilter,
    ordering: Ordering,
    rows: list[StoredEvent],
    chunk_rows: int,
    budget_ms: int | None,
) -> AsyncIterator[list[StoredEvent]]:
    while rows:
        yield rows
        if len(rows) < chunk_rows:
            return
        after = ordering.position(rows[-1])
        rows = await _chunk(pool, flt, ordering, after, chunk_rows, budget_ms)
