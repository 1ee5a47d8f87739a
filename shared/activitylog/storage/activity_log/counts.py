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


async def _grouped_count(
    conn: asyncpg.Connection, f: ActivityFilter, cap: int, budget_ms: int | None
) -> dict[str, int] | None:
    """Up to cap + 1 rows matching `f` (no search) counted per category, in one pass (a
    lead's tabs: one walk of its index instead of one per category, each planned over every
    month); None past `budget_ms`."""
    p = _Params()
    sql = (
        f"SELECT s.event_category, count(*) AS n FROM (SELECT a.event_category "
        f"FROM lead_activity_log a WHERE {_where(_conditions(f, p))} "
        f"LIMIT {p.add(cap + 1)}) s GROUP BY s.event_category"
    )
    rows = await _within_budget(conn, sql, p.values, budget_ms, many=True)
    return None if rows is None else {r["event_category"]: int(r["n"]) for r in rows}


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


async def _shares_of(
    conn: asyncpg.Connection,
    whole: int,
    scopes: dict[str, ActivityFilter],
    categories: list[str],
) -> dict[str, int]:
    """Each category's estimate: the whole's times its share in the statistics, as the
    planner itself would put it. One read of the statistics instead of a plan per
    category, which on the partitioned log costs 5-20 ms each at 10 M events; a category
    the statistics do not know yet is planned."""
    shares = await category_shares(conn)
    return {
        c: round(whole * shares[c]) if c in shares else await _estimate(conn, scopes[c])
        for c in categories
    }


async def count_by_category(
    conn: asyncpg.Connection,
    f: ActivityFilter,
    categories: list[str],
    cap: int,
    *,
    budget_ms: int | None = None,
) -> dict[str, Count]:
    """Capped counts for `all` and each category (`f.categories` ignored): one grouped pass
    when the whole is within the cap, else one capped count per category."""
    base = replace(f, categories=())
    scopes: dict[str, ActivityFilter] = {"all": base}
    scopes.update({c: replace(base, categories=(c,)) for c in categories})
    estimates = {"all": await _estimate(conn, base)}
    # A category adds a condition, so the planner puts it at most at the whole's rows: when
    # the whole is not far beyond the cap, no category is, and each is counted (its
    # estimate read only if that count fails).
    if estimates["all"] > _FAR_BEYOND_CAP * cap:
        estimates |= await _shares_of(conn, estimates["all"], scopes, categories)
    counts = {name: Count(e, True) for name, e in estimates.items() if e > _FAR_BEYOND_CAP * cap}
    exact = [name for name in scopes if name not in counts]
    values: dict[str, int | None] = {}
    if "all" in exact and not f.search:
        found = await _grouped_count(conn, base, cap, budget_ms)
        if found is None:  # past the budget: nothing is counted
            values = dict.fromkeys(exact)
            exact = []
        elif sum(found.values()) <= cap:
            every = {c: Count(found.get(c, 0), False) for c in categories}
            return {"all": Count(sum(found.values()), False)} | every
        else:  # beyond the cap: each category is counted on its own below
            values["all"] = sum(found.values())
            exact = [name for name in exact if name != "all"]
    row = None
    if exact:
        p = _Params()
        parts = [f"({_capped_count_sql(scopes[name], p, cap)})" for name in exact]
        row = await _within_budget(conn, f"SELECT {', '.join(parts)}", p.values, budget_ms)
    values |= {name: row[i] if row is not None else None for i, name in enumerate(exact)}
    unresolved = [name for name, value in values.items() if value is None or value > cap]
    if any(name not in estimates for name in unresolved):
        estimates |= await _shares_of(conn, estimates["all"], scopes, categories)
    for name, value in values.items():
        if value is not None and value <= cap:
            counts[name] = Count(int(value), False)
        else:
            floor = cap if value is not None else 0
            counts[name] = Count(max(estimates[name], floor), True)
    return {name: counts[name] for name in scopes}
