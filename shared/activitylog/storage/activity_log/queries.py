"""SQL for the `lead_activity_log` table."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg
import orjson

# -- Read queries of the API: timelines, the admin browser, its counts and CSV export ----
#
# The WHERE clause is assembled from fixed fragments so each query carries only the
# conditions in use (the planner then picks the matching index); every value is a parameter.


class SortKey(StrEnum):
    """The admin browser's `sortBy`; ties always break on ("timestamp", id), newest first."""

    TIMESTAMP = "timestamp"
    EVENT_TYPE = "eventType"
    EVENT_CATEGORY = "eventCategory"


_PRIMARY_COLUMN = {SortKey.EVENT_TYPE: "event_type", SortKey.EVENT_CATEGORY: "event_category"}


@dataclass(frozen=True, slots=True)
class Ordering:
    key: SortKey = SortKey.TIMESTAMP
    descending: bool = True

    def position(self, record: asyncpg.Record) -> tuple[Any, ...]:
        """The keyset position of a row: what a cursor must hold to continue after it."""
        column = _PRIMARY_COLUMN.get(self.key)
        tail = (record["timestamp"], record["id"])
        return (record[column], *tail) if column else tail


@dataclass(frozen=True, slots=True)
class ActivityFilter:
    """Every filter of the timeline and the admin browser; None/empty means "any"."""

    lead_id: uuid.UUID | None = None
    lead_airtable_id: str | None = None
    client_id: uuid.UUID | None = None
    categories: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    source: str | None = None
    execution_id: str | None = None
    since: datetime | None = None  # inclusive
    before: datetime | None = None  # exclusive
    search: str | None = None


class _Params:
    """Collects query values and hands out their $n placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


_READ_COLUMNS = """a.id, a."timestamp", a.event_type, a.event_category, a.description,
    a.message_content, a.metadata, a.source, a.execution_id, a.lead_id, a.lead_airtable_id,
    a.client_id, a.created_at"""
_LEAD_COLUMNS = "l.id AS lead_row_id, l.first_name, l.last_name, l.email AS lead_email"
_PHONE_QUERY = re.compile(r"^[\d\s()+.\-]+$")


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(f: ActivityFilter, p: _Params) -> list[str]:
    conds: list[str] = []
    if f.lead_id is not None:
        conds.append(f"a.lead_id = {p.add(f.lead_id)}")
    if f.lead_airtable_id is not None:
        # Through the lead, so the (lead_id, "timestamp") index serves it.
        conds.append(
            "a.lead_id IN (SELECT id FROM leads WHERE airtable_record_id = "
            f"{p.add(f.lead_airtable_id)})"
        )
    if f.client_id is not None:
        conds.append(f"a.client_id = {p.add(f.client_id)}")
    if f.categories:
        conds.append(f"a.event_category = ANY({p.add(list(f.categories))}::text[])")
    if f.event_types:
        conds.append(f"a.event_type = ANY({p.add(list(f.event_types))}::text[])")
    if f.source is not None:
        conds.append(f"a.source = {p.add(f.source)}")
    if f.execution_id is not None:
        conds.append(f"a.execution_id = {p.add(f.execution_id)}")
    if f.since is not None:
        conds.append(f'a."timestamp" >= {p.add(f.since)}')
    if f.before is not None:
        conds.append(f'a."timestamp" < {p.add(f.before)}')
    return conds


def _text_match(text: str, p: _Params) -> str:
    """The event's own text matches (English full text, web-search syntax)."""
    return f"a.search_vector @@ websearch_to_tsquery('english', {p.add(text)})"


def _lead_match(text: str, p: _Params) -> str:
    """The event's lead matches by name, email, Airtable id or phone digits (substrings)."""
    pattern = p.add(_like_pattern(text))
    lead_match = [
        f"(l.first_name || ' ' || l.last_name) ILIKE {pattern}",
        f"l.email ILIKE {pattern}",
        f"l.airtable_record_id = {p.add(text)}",
    ]
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 4 and _PHONE_QUERY.match(text):
        lead_match.append(
            f"regexp_replace(l.phone, '\\D', '', 'g') LIKE {p.add(_like_pattern(digits))}"
        )
    return f"a.lead_id IN (SELECT l.id FROM leads l WHERE {' OR '.join(lead_match)})"


def _search_branches(f: ActivityFilter, p: _Params) -> list[str] | None:
    """The two ways an event matches `search`: its text, or its lead's name/email/phone.

    They are queried as a UNION of two index-friendly branches rather than one OR.
    """
    if not f.search:
        return None
    return [_text_match(f.search, p), _lead_match(f.search, p)]


def _keyset(ordering: Ordering, after: tuple[Any, ...], p: _Params) -> str:
    column = _PRIMARY_COLUMN.get(ordering.key)
    if column is None:
        op = "<" if ordering.descending else ">"
        return f'(a."timestamp", a.id) {op} ({p.add(after[0])}, {p.add(after[1])}::uuid)'
    op = "<" if ordering.descending else ">"
    value = p.add(after[0])
    return (
        f"(a.{column} {op} {value} OR (a.{column} = {value} AND "
        f'(a."timestamp", a.id) < ({p.add(after[1])}, {p.add(after[2])}::uuid)))'
    )


def _order_by(ordering: Ordering, *, opaque: bool = False) -> str:
    """ORDER BY for `ordering`; `opaque` hides the columns from the planner (same order) so
    no index can supply it and the WHERE clause picks the index instead."""
    direction = "DESC" if ordering.descending else "ASC"
    column = _PRIMARY_COLUMN.get(ordering.key)
    ts = "(a.\"timestamp\" + interval '0 s')" if opaque else 'a."timestamp"'
    if column is None:
        return f"{ts} {direction}, a.id {direction}"
    primary = f"(a.{column} || '')" if opaque else f"a.{column}"
    return f"{primary} {direction}, {ts} DESC, a.id DESC"


def _where(conds: list[str]) -> str:
    return " AND ".join(conds) if conds else "TRUE"


# A text search expected to match fewer rows than this reads them through the text index;
# a commoner one walks the time index, where matches come soon. (The two cost the same near
# sqrt(page size × table rows): about 7,000 matches for a page of 50 in a million events.)
RARE_MATCHES = 10_000
# An estimate this many times the cap is taken as it is, without counting up to the cap.
_FAR_BEYOND_CAP = 5


def _page_sql(
    f: ActivityFilter,
    p: _Params,
    *,
    ordering: Ordering,
    after: tuple[Any, ...] | None,
    limit: int,
    offset: int,
    with_lead: bool,
    text_by_index: bool,
) -> str:
    """The page query (values go to `p`)."""
    conds = _conditions(f, p)
    if after is not None:
        conds.append(_keyset(ordering, after, p))
    order = _order_by(ordering)
    branches = _search_branches(f, p)
    if branches is None:
        where = _where(conds)
    else:
        # Each branch stops at the rows the page can use; the union is then ordered again.
        reach = p.add(offset + limit)
        parts = [
            f"(SELECT a.id FROM lead_activity_log a WHERE {_where([*conds, branch])} "
            f"ORDER BY {_order_by(ordering, opaque=text_by_index and i == 0)} LIMIT {reach})"
            for i, branch in enumerate(branches)
        ]
        where = f"a.id IN ({' UNION '.join(parts)})"
    page = (
        f"SELECT {_READ_COLUMNS} FROM lead_activity_log a WHERE {where} "
        f"ORDER BY {order} LIMIT {p.add(limit)} OFFSET {p.add(offset)}"
    )
    if not with_lead:
        return page
    # Leads are joined to the page's rows only, after the limit.
    return (
        f"SELECT a.*, {_LEAD_COLUMNS} FROM ({page}) a "
        f"LEFT JOIN leads l ON l.id = a.lead_id ORDER BY {order}"
    )


async def browse(
    conn: asyncpg.Connection,
    f: ActivityFilter,
    *,
    ordering: Ordering = Ordering(),
    after: tuple[Any, ...] | None = None,
    limit: int = 50,
    offset: int = 0,
    with_lead: bool = True,
    budget_ms: int | None = None,
    rare_matches: int = RARE_MATCHES,
) -> list[asyncpg.Record]:
    """One page of events matching `f`, after the keyset position `after` or at `offset`."""
    # A text search takes the path its expected matches suit (`rare_matches`). When that
    # guess is wrong the time-index walk can read the whole table, so it gets `budget_ms`
    # and past it the page is read through the text index instead.

    def build(text_by_index: bool) -> tuple[str, list[Any]]:
        p = _Params()
        sql = _page_sql(
            f,
            p,
            ordering=ordering,
            after=after,
            limit=limit,
            offset=offset,
            with_lead=with_lead,
            text_by_index=text_by_index,
        )
        return sql, p.values

    if not f.search:
        sql, values = build(False)
        return list(await conn.fetch(sql, *values))
    rare = await _text_matches_estimate(conn, f) < rare_matches
    sql, values = build(rare)
    if rare or budget_ms is None:
        return list(await conn.fetch(sql, *values))
    rows = await _within_budget(conn, sql, values, budget_ms, many=True)
    if rows is not None:
        return list(rows)
    sql, values = build(True)
    return list(await conn.fetch(sql, *values))


async def _text_matches_estimate(conn: asyncpg.Connection, f: ActivityFilter) -> int:
    """The planner's estimate of the events whose text matches `f.search` (filters applied)."""
    assert f.search
    p = _Params()
    conds = _conditions(f, p)
    return await _plan_rows(conn, _where([*conds, _text_match(f.search, p)]), p.values)


async def _plan_rows(conn: asyncpg.Connection, where: str, values: list[Any]) -> int:
    plan = await conn.fetchval(
        f"EXPLAIN (FORMAT JSON) SELECT 1 FROM lead_activity_log a WHERE {where}", *values
    )
    if isinstance(plan, str):
        plan = orjson.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


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


@dataclass(frozen=True, slots=True)
class Count:
    """A row count; `estimated` when the exact count was cut at the cap."""

    value: int
    estimated: bool


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
            await conn.execute(f"SET LOCAL statement_timeout = {int(budget_ms)}")
            return await fetch(sql, *values)
    except asyncpg.QueryCanceledError:
        return None


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
    estimates = {name: await _estimate(conn, scope) for name, scope in scopes.items()}
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
            counts[name] = Count(max(estimates[name], floor), True)
    return {name: counts[name] for name in scopes}


# -- The admin dashboard's charts ---------------------------------------------------------
