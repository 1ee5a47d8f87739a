"""How the activity log's reads ask the planner: its row estimates, and a statement run
within a time budget without parallel workers or JIT (each read stops after a page)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import asyncpg
import orjson

from activitylog.domain.reads.query import ActivityFilter
from activitylog.storage.activity_log.filters import (
    _conditions,
    _lead_match,
    _Params,
    _text_match,
    _where,
)
from activitylog.storage.activity_log.statistics import row_estimates

_NO_STARTUP_COSTS = "SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off"
_ONE_PLAN = "SET LOCAL plan_cache_mode = force_generic_plan"
# Through the indexes' bitmaps only: a count that must ask the text index, never a scan.
_BITMAPS_ONLY = (
    "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; "
    "SET LOCAL enable_indexonlyscan = off"
)


def keeps_one_plan(f: ActivityFilter) -> bool:
    """A lead's read without a search: through the lead's index whatever the values, so its
    plan is kept per connection (planned at each read over every month it cost 1-3 ms at
    10 M events; PostgreSQL keeps one itself only after five reads on a connection). A
    search never is: made without its words, a plan may scan every month."""
    return f.lead_id is not None and not f.search


# The estimates one read's concurrent tasks share (`estimates_shared`): a page and its
# counts plan the same filter over every month, 3-13 ms each on the partitioned log at 10 M.
_SHARED: ContextVar[dict[str, asyncio.Future[int | None]] | None] = ContextVar(
    "activitylog_shared_estimates", default=None
)


@contextmanager
def estimates_shared() -> Iterator[None]:
    """Within, the tasks of one read (started inside) ask the planner once per estimate."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


async def _explain_rows(conn: asyncpg.Connection, sql: str, values: list[Any]) -> int:
    plan = await conn.fetchval(sql, *values)
    if isinstance(plan, str):
        plan = orjson.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


async def _plan_rows(conn: asyncpg.Connection, where: str, values: list[Any]) -> int:
    sql = f"EXPLAIN (FORMAT JSON) SELECT 1 FROM lead_activity_log a WHERE {where}"
    shared = _SHARED.get()
    if shared is None:
        return await _explain_rows(conn, sql, values)
    key = f"{sql}\x00{values!r}"
    pending = shared.get(key)
    if pending is not None:
        rows = await asyncio.shield(pending)
        # None: the task that asked failed or was cancelled; this one asks for itself.
        return rows if rows is not None else await _explain_rows(conn, sql, values)
    pending = shared[key] = asyncio.get_running_loop().create_future()
    rows = None
    try:
        rows = await _explain_rows(conn, sql, values)
        return rows
    finally:
        pending.set_result(rows)
        if rows is None:
            del shared[key]


async def _estimate(conn: asyncpg.Connection, f: ActivityFilter) -> int:
    """The planner's row estimate for `f` (fast at any size; exact only by luck)."""
    # A search is estimated branch by branch and summed: the planner has no useful estimate
    # for an OR with a sub-select.
    if not f.search:
        p = _Params()
        return await _plan_rows(conn, _where(_conditions(f, p)), p.values)
    total = 0
    for branch in (_text_match, _lead_match):
        p = _Params()
        conds = _conditions(f, p)
        total += await _plan_rows(conn, _where([*conds, branch(f.search, p)]), p.values)
    return total


async def category_shares(conn: asyncpg.Connection) -> dict[str, float]:
    """Each category's share of the log in the planner's statistics (empty before the first
    ANALYZE): what it multiplies a filter's estimate by for `event_category = …`."""
    row = await conn.fetchrow(
        """
        SELECT most_common_vals::text::text[] AS vals, most_common_freqs AS freqs
        FROM pg_stats
        WHERE schemaname = current_schema() AND tablename = 'lead_activity_log'
          AND attname = 'event_category'
        ORDER BY inherited DESC LIMIT 1
        """
    )
    if row is None or row["vals"] is None:
        return {}
    return dict(zip(row["vals"], row["freqs"], strict=True))


async def _within_budget(
    conn: asyncpg.Connection,
    sql: str,
    values: list[Any],
    budget_ms: int | None,
    *,
    many: bool = False,
    one_plan: bool = False,
    bitmaps_only: bool = False,
) -> Any:
    """The query's row (or rows, `many`); None if it needed more than `budget_ms`.

    PostgreSQL itself cancels the statement at the budget (statement_timeout). `one_plan`:
    the statement's plan is kept (`keeps_one_plan`); `bitmaps_only`: read through index
    bitmaps, never a scan of the months.
    """
    fetch = conn.fetch if many else conn.fetchrow
    if budget_ms is None and not one_plan and not bitmaps_only:
        return await fetch(sql, *values)
    settings = [_NO_STARTUP_COSTS]
    if budget_ms is not None:
        settings.insert(0, f"SET LOCAL statement_timeout = {int(budget_ms)}")
    if one_plan:
        settings.append(_ONE_PLAN)
    if bitmaps_only:
        settings.append(_BITMAPS_ONLY)
    try:
        async with conn.transaction():
            await conn.execute("; ".join(settings))
            return await fetch(sql, *values)
    except asyncpg.QueryCanceledError:
        return None


# How long the text index may be asked whether a word the statistics do not know is rare.
RARE_PROBE_MS = 10


# What the planner guesses for a word that neither the text's nor the metadata's statistics
# hold: 0.5 % of the rows each, OR'ed; with a margin, as each month's rows are scaled to its
# size on disk.
_UNKNOWN_WORD_SHARE = 0.015


def _matching(f: ActivityFilter) -> tuple[str, _Params]:
    assert f.search
    p = _Params()
    return _where([*_conditions(f, p), _text_match(f.search, p)]), p


def rare_probe(f: ActivityFilter, rare_matches: int) -> tuple[str, list[Any]]:
    """The count, up to `rare_matches`, of the events whose text matches `f.search` (filters
    applied): run `bitmaps_only`, through the text index."""
    where, p = _matching(f)
    limit = p.add(rare_matches)
    sql = f"SELECT count(*) FROM (SELECT 1 FROM lead_activity_log a WHERE {where} LIMIT {limit}) s"
    return sql, p.values


async def text_path(
    conn: asyncpg.Connection, f: ActivityFilter, rare_matches: int
) -> tuple[int, bool, bool]:
    """The planner's estimate of the events whose text matches `f.search` (filters applied),
    whether fewer than `rare_matches` do, and whether the estimate is the statistics' (not
    a guess for a word they do not hold)."""
    where, p = _matching(f)
    estimate = await _plan_rows(conn, where, p.values)
    if estimate < rare_matches:
        return estimate, True, True
    # Above that guess, the statistics know the word as common: counting it up to
    # `rare_matches` would only use up the probe's budget (10 ms of every common word's
    # page at 10 M events).
    rows = await row_estimates(conn)
    if rows is not None and estimate > _UNKNOWN_WORD_SHARE * rows[1]:
        return estimate, False, True
    # A word missing from the statistics is estimated at a fixed 0.5 % of the log (50,000
    # events at 10 million), which would walk the whole time index for a word that is not
    # there. Counting through the text index up to `rare_matches` takes a millisecond or two
    # for a rare word; a common one runs out of time and is treated as common. Through the
    # index only: for LIMIT 10,000 of a guessed 250,000 matches at 50 M events the planner
    # scans the months instead, which for a word that is not there runs out of time every
    # time (and the search then walked the whole log: a 503).
    probe, values = rare_probe(f, rare_matches)
    row = await _within_budget(conn, probe, values, RARE_PROBE_MS, bitmaps_only=True)
    return estimate, row is not None and int(row[0]) < rare_matches, False
