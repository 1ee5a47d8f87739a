"""Counts of the events a filter matches: exact up to a cap, else the planner's estimate
(the browser's total and its category chips)."""

from __future__ import annotations

from dataclasses import replace

import asyncpg

from activitylog.domain.reads.query import ActivityFilter, Count
from activitylog.storage.activity_log.filters import (
    _conditions,
    _Params,
    _search_branches,
    _where,
)
from activitylog.storage.activity_log.planner import (
    _estimate,
    _within_budget,
    category_shares,
)

# An estimate this many times the cap is taken as it is, without counting up to the cap.
_FAR_BEYOND_CAP = 5


def _capped_count_sql(f: ActivityFilter, p: _Params, cap: int) -> str:
    conds = _conditions(f, p)
    branches = _search_branches(f, p)
    reach = p.add(cap + 1)
    if branches is None:
        return (
            f"SELECT count(*) FROM (SELECT 1 FROM lead_activity_log a "
            f"WHERE {_where(conds)} LIMIT {reach}) s"
        )
    parts = [
        f"(SELECT a.id FROM lead_activity_log a WHERE {_where([*conds, b])} LIMIT {reach})"
        for b in branches
    ]
    return f"SELECT count(*) FROM ({' UNION '.join(parts)}) s"


async def count_capped(
    conn: asyncpg.Connection, f: ActivityFilter, cap: int, *, budget_ms: int | None = None
) -> Count:
    """Exact count up to `cap`; above it, or past `budget_ms`, the planner's estimate.

    The estimate is never below the cap when the cap was reached.
    """
    estimate = await _estimate(conn, f)
    if estimate > _FAR_BEYOND_CAP * cap:
        # Counting up to the cap would only confirm that it is reached.
        return Count(estimate, True)
    p = _Params()
    row = await _within_budget(conn, _capped_count_sql(f, p, cap), p.values, budget_ms)
    if row is not None and row[0] <= cap:
        return Count(int(row[0]), False)
    return Count(max(estimate, cap if row is not None else 0), True)


async def count_by_category(
    conn: asyncpg.Connection,
    f: ActivityFilter,
    categories: list[str],
    cap: int,
    *,
    budget_ms: int | None = None,
) -> dict[str, Count]:
    """Capped counts for `all` and each category, in one round trip (`f.categories` ignored)."""
    base = replace(f, categories=())
    scopes: dict[str, ActivityFilter] = {"all": base}
    scopes.update({c: replace(base, categories=(c,)) for c in categories})
    estimates = {"all": await _estimate(conn, base)}
    # A category adds a condition, so the planner puts it at most at the whole's rows: when
    # the whole is not far beyond the cap, no category is, and each is counted (its
    # estimate read only if that count fails). That spares a filtered page six planner
    # round trips; a misjudged category is still only counted up to the cap.
    if estimates["all"] > _FAR_BEYOND_CAP * cap:
        # Far beyond it, each category is the whole times its share, as the planner itself
        # would put it (one read of the statistics instead of six plans: on the partitioned
        # log each plan costs 15-20 ms at 10 M events).
        shares = await category_shares(conn)
        for c in categories:
            if c in shares:
                estimates[c] = round(estimates["all"] * shares[c])
            else:
                estimates[c] = await _estimate(conn, scopes[c])
    counts = {name: Count(e, True) for name, e in estimates.items() if e > _FAR_BEYOND_CAP * cap}
    exact = [name for name in scopes if name not in counts]
    row = None
    if exact:
        p = _Params()
        parts = [f"({_capped_count_sql(scopes[name], p, cap)})" for name in exact]
        row = await _within_budget(conn, f"SELECT {', '.join(parts)}", p.values, budget_ms)
    for index, name in enumerate(exact):
        value = row[index] if row is not None else None
        if value is not None and value <= cap:
            counts[name] = Count(int(value), False)
        else:
            floor = cap if value is not None else 0
            estimate = estimates.get(name)
            if estimate is None:
                estimate = await _estimate(conn, scopes[name])
            counts[name] = Count(max(estimate, floor), True)
    return {name: counts[name] for name in scopes}
