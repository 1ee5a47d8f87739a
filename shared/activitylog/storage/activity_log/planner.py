"""How the activity log's reads ask the planner: its row estimates, and a statement run
within a time budget without parallel workers or JIT (each read stops after a page)."""

from __future__ import annotations

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

_NO_STARTUP_COSTS = "SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off"


async def _plan_rows(conn: asyncpg.Connection, where: str, values: list[Any]) -> int:
    plan = await conn.fetchval(
        f"EXPLAIN (FORMAT JSON) SELECT 1 FROM lead_activity_log a WHERE {where}", *values
    )
    if isinstance(plan, str):
        plan = orjson.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


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
) -> Any:
    """The query's row (or rows, `many`); None if it needed more than `budget_ms`.

    PostgreSQL itself cancels the statement at the budget (statement_timeout).
    """
    fetch = conn.fetch if many else conn.fetchrow
    if budget_ms is None:
        return await fetch(sql, *values)
    try:
        async with conn.transaction():
            await conn.execute(
                f"SET LOCAL statement_timeout = {int(budget_ms)}; {_NO_STARTUP_COSTS}"
            )
            return await fetch(sql, *values)
    except asyncpg.QueryCanceledError:
        return None
