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
    keeps_one_plan,
)

# An estimate this many times the cap is taken as it is, without counting up to the cap.
_FAR_BEYOND_CAP = 5


def _capped_count_sql(f: ActivityFilter, p: _Params, cap: int, extra: tuple[str, ...] = ()) -> str:
    conds = [*_conditions(f, p), *extra]
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


def _grouped_count_sql(f: ActivityFilter, p: _Params, cap: int) -> str:
    """Up to cap + 1 rows of each way `f` matches (one, or a search's branches), their
    union counted per category."""
    conds = _conditions(f, p)
    branches = _search_branches(f, p)
    reach = p.add(cap + 1)
    if branches is None:
        rows = (
            f"SELECT a.event_category FROM lead_activity_log a WHERE {_where(conds)} LIMIT {reach}"
        )
    else:
        rows = " UNION ".join(
            f"(SELECT a.id, a.event_category FROM lead_activity_log a "
            f"WHERE {_where([*conds, b])} LIMIT {reach})"
            for b in branches
        )
    return f"SELECT s.event_category, count(*) AS n FROM ({rows}) s GROUP BY s.event_category"


async def _grouped_count(
    conn: asyncpg.Connection, f: ActivityFilter, cap: int, budget_ms: int | None
) -> dict[str, int] | None:
    """The rows matching `f`, up to about cap + 1 per branch, counted per category in one
    statement (a lead's tabs: one walk of its index; a search: its branches planned once
    over every month instead of once per category); None past `budget_ms`."""
    p = _Params()
    sql = _grouped_count_sql(f, p, cap)
    one_plan = keeps_one_plan(f)
    rows = await _within_budget(conn, sql, p.values, budget_ms, many=True, one_plan=one_plan)
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


async def _each_category(
    conn: asyncpg.Connection,
    base: ActivityFilter,
    names: list[str],
    cap: int,
    budget_ms: int | None,
) -> dict[str, int | None]:
    """The capped count of each name (a category, or "all" for the whole) in one statement,
    where the count per category is planned once with the category as its parameter
    (planned apart, a search's branches over every month for each category outlast the
    budget at 10 M events before a row is read); every value None past `budget_ms`."""
    p = _Params()
    categories = [n for n in names if n != "all"]
    count = _capped_count_sql(base, p, cap, extra=("a.event_category = k.category",))
    parts = [
        f"SELECT k.category, ({count}) AS n FROM unnest({p.add(categories)}::text[]) AS k(category)"
    ]
    if "all" in names:
        parts.append(f"SELECT 'all', ({_capped_count_sql(base, p, cap)})")
    rows = await _within_budget(conn, " UNION ALL ".join(parts), p.values, budget_ms, many=True)
    found = {} if rows is None else {r["category"]: r["n"] for r in rows}
    return {name: found.get(name) for name in names}


def _within_cap(found: dict[str, int], categories: list[str]) -> dict[str, Count]:
    every = {c: Count(found.get(c, 0), False) for c in categories}
    return {"all": Count(sum(found.values()), False)} | every


async def count_by_category(
    conn: asyncpg.Connection,
    f: ActivityFilter,
    categories: list[str],
    cap: int,
    *,
    budget_ms: int | None = None,
) -> dict[str, Count]:
    """Capped counts for `all` and each category (`f.categories` ignored): one grouped pass
    when the whole may be within the cap, else (or when it was not) one capped count each."""
    base = replace(f, categories=())
    scopes: dict[str, ActivityFilter] = {"all": base}
    scopes.update({c: replace(base, categories=(c,)) for c in categories})
    grouped: dict[str, int] | None = None
    if lead_scoped := base.lead_id is not None:
        # A lead's rows, read through its own index, are most often few: counted first, and
        # estimated (a plan over every month, ~1 ms at 10 M events) only past the cap.
        grouped = await _grouped_count(conn, base, cap, budget_ms)
        if grouped is not None and sum(grouped.values()) <= cap:
            return _within_cap(grouped, categories)
    estimates = {"all": await _estimate(conn, base)}
    # A category adds a condition, so the planner puts it at most at the whole's rows: when
    # the whole is not far beyond the cap, no category is, and each is counted (its
    # estimate read only if that count fails).
    if estimates["all"] > _FAR_BEYOND_CAP * cap:
        estimates |= await _shares_of(conn, estimates["all"], scopes, categories)
    counts = {name: Count(e, True) for name, e in estimates.items() if e > _FAR_BEYOND_CAP * cap}
    exact = [name for name in scopes if name not in counts]
    values: dict[str, int | None] = {}
    # The grouped pass only when the whole may be within the cap: past it, its rows would
    # be read for nothing before each category is counted on its own.
    if "all" in exact and (lead_scoped or estimates["all"] <= cap):
        found = grouped if lead_scoped else await _grouped_count(conn, base, cap, budget_ms)
        if found is None:  # past the budget: nothing is counted
            values = dict.fromkeys(exact)
            exact = []
        elif sum(found.values()) <= cap:
            return _within_cap(found, categories)
        else:  # beyond the cap: each category is counted on its own below
            values["all"] = sum(found.values())
            exact = [name for name in exact if name != "all"]
    if exact:
        values |= await _each_category(conn, base, exact, cap, budget_ms)
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
