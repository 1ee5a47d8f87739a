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

from activitylog.contract.taxonomy import Category, EventType

# -- Read queries of the API: timelines, the admin browser, its counts and CSV export ----
#
# The WHERE clause is assembled from fixed fragments so each query carries only the
# conditions in use (the planner then picks the matching index); every value is a parameter.


class SortKey(StrEnum):
    """The admin browser's `sortBy`; ties always break on ("timestamp", id), newest first."""

    TIMESTAMP = "timestamp"
    EVENT_TYPE = "eventType"
    EVENT_CATEGORY = "eventCategory"
    # Events grouped by lead (the lead's id order), each lead's newest first: the (lead,
    # time) index supplies it, so it is as quick as the time order.
    LEAD = "lead"


_PRIMARY_COLUMN = {
    SortKey.EVENT_TYPE: "event_type",
    SortKey.EVENT_CATEGORY: "event_category",
    SortKey.LEAD: "lead_id",
}


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
    source_prefix: str | None = None  # "n8n:" finds every n8n workflow's events
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
# A word long enough for a similar spelling to mean something (pg_trgm word similarity).
_ONE_WORD = re.compile(r"^[^\W\d_]{4,}$")


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_pattern(text: str) -> str:
    return f"%{_like_escaped(text)}%"


# The same expressions as the indexes of migration 0012 (the planner matches them as text).
METADATA_WORDS = (
    "jsonb_to_tsvector('simple', coalesce(a.metadata, '{}'::jsonb), '[\"string\", \"numeric\"]')"
)
_LEAD_NAME = "(l.first_name || ' ' || l.last_name)"


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
    # One value is an equality, not ANY(array): only then can a (…, column, time) index
    # hand rows over in time order.
    if len(f.categories) == 1:
        conds.append(f"a.event_category = {p.add(f.categories[0])}")
    elif f.categories:
        conds.append(f"a.event_category = ANY({p.add(list(f.categories))}::text[])")
    if len(f.event_types) == 1:
        conds.append(f"a.event_type = {p.add(f.event_types[0])}")
    elif f.event_types:
        conds.append(f"a.event_type = ANY({p.add(list(f.event_types))}::text[])")
    if f.source is not None:
        conds.append(f"a.source = {p.add(f.source)}")
    if f.source_prefix is not None:
        conds.append(f"a.source LIKE {p.add(_like_escaped(f.source_prefix) + '%')}")
    if f.execution_id is not None:
        conds.append(f"a.execution_id = {p.add(f.execution_id)}")
    if f.since is not None:
        conds.append(f'a."timestamp" >= {p.add(f.since)}')
    if f.before is not None:
        conds.append(f'a."timestamp" < {p.add(f.before)}')
    return conds


def _text_match(text: str, p: _Params) -> str:
    """The event's own text (English full text, web-search syntax) or a metadata value
    (as written, no stemming) matches."""
    value = p.add(text)
    return (
        f"(a.search_vector @@ websearch_to_tsquery('english', {value}) OR "
        f"{METADATA_WORDS} @@ websearch_to_tsquery('simple', {value}))"
    )


def lead_match(text: str, p: _Params) -> str:
    """Leads (alias l) matching `text`: name or email substring (so also prefix), a name
    word similar to it (typos), the Airtable id, or phone digits. The trigram indexes of
    migration 0002 serve each of them (0012's lead_name_similar is inlined to the indexed
    expression)."""
    pattern = p.add(_like_pattern(text))
    match = [
        f"{_LEAD_NAME} ILIKE {pattern}",
        f"l.email ILIKE {pattern}",
        f"l.airtable_record_id = {p.add(text)}",
    ]
    if _ONE_WORD.match(text):
        # Only for one word: "bob.smith" would find every Smith by its second word.
        match.append(f"lead_name_similar({_LEAD_NAME}, {p.add(text)})")
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 4 and _PHONE_QUERY.match(text):
        match.append(f"regexp_replace(l.phone, '\\D', '', 'g') LIKE {p.add(_like_pattern(digits))}")
    return " OR ".join(match)


def lead_condition(text: str) -> tuple[str, list[Any]]:
    """`lead_match` on its own: the WHERE text over leads (alias l) and its values."""
    p = _Params()
    return lead_match(text, p), p.values


def _lead_match(text: str, p: _Params) -> str:
    """The event's lead matches (see `lead_match`)."""
    return f"a.lead_id IN (SELECT l.id FROM leads l WHERE {lead_match(text, p)})"


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


def _order_by(ordering: Ordering, *, opaque: bool = False, alias: str = "a") -> str:
    """ORDER BY for `ordering`; `opaque` hides the columns from the planner (same order) so
    no index can supply it and the WHERE clause picks the index instead."""
    direction = "DESC" if ordering.descending else "ASC"
    column = _PRIMARY_COLUMN.get(ordering.key)
    ts = f"({alias}.\"timestamp\" + interval '0 s')" if opaque else f'{alias}."timestamp"'
    if column is None:
        return f"{ts} {direction}, {alias}.id {direction}"
    primary = f"({alias}.{column}::text || '')" if opaque else f"{alias}.{column}"
    return f"{primary} {direction}, {ts} DESC, {alias}.id DESC"


def _where(conds: list[str]) -> str:
    return " AND ".join(conds) if conds else "TRUE"


# A text search expected to match fewer rows than this reads them through the text index;
# a commoner one walks the time index, where matches come soon. (The two cost the same near
# sqrt(page size × table rows): about 7,000 matches for a page of 50 in a million events.)
RARE_MATCHES = 10_000
# An estimate this many times the cap is taken as it is, without counting up to the cap.
_FAR_BEYOND_CAP = 5


# The values a primary sort column can hold (the contract admits no others).
_KNOWN_VALUES = {
    SortKey.EVENT_TYPE: ("event_types", [t.value for t in EventType]),
    SortKey.EVENT_CATEGORY: ("categories", [c.value for c in Category]),
}


def _by_value_desc(
    f: ActivityFilter, p: _Params, conds: list[str], ordering: Ordering, reach: str
) -> str:
    """Candidates for a page by type or category, Z to A, each value's newest first. Its
    (column, time) index reads A to Z, or Z to A with the times reversed, so each value is
    read on its own, newest first, and at most `reach` rows of each are kept."""
    field, known = _KNOWN_VALUES[ordering.key]
    values = list(getattr(f, field)) or known
    column = _PRIMARY_COLUMN[ordering.key]
    return (
        f"SELECT e.id FROM unnest({p.add(values)}::text[]) AS v(value) "
        f'CROSS JOIN LATERAL (SELECT a.id, a."timestamp" FROM lead_activity_log a '
        f"WHERE {_where([f'a.{column} = v.value', *conds])} "
        f'ORDER BY a."timestamp" DESC, a.id DESC LIMIT {reach}) e '
        f'ORDER BY v.value DESC, e."timestamp" DESC, e.id DESC LIMIT {reach}'
    )


_SINCE_FLOOR = '(t.floor IS NULL OR a."timestamp" >= t.floor)'


def _lead_branch(
    f: ActivityFilter, p: _Params, conds: list[str], ordering: Ordering, reach: str
) -> str:
    """The page's candidates among the events of the leads `f.search` finds: matching leads
    first (trigram indexes), then each one's events through the (lead, time) index, so the
    cost follows the leads found, not the log's size."""
    assert f.search
    order = _order_by(ordering)
    leads_found = f"SELECT l.id, l.last_activity_at FROM leads l WHERE {lead_match(f.search, p)}"

    def per_lead(lead: str, *extra: str) -> str:
        column = _PRIMARY_COLUMN.get(ordering.key)
        sort_column = f", a.{column}" if column else ""
        return (
            f'CROSS JOIN LATERAL (SELECT a.id, a."timestamp"{sort_column} FROM lead_activity_log a '
            f"WHERE {_where([f'a.lead_id = {lead}', *conds, *extra])} "
            f"ORDER BY {order} LIMIT {reach}) e"
        )

    if ordering.key != SortKey.TIMESTAMP or not ordering.descending:
        return (
            f"(SELECT e.id FROM ({leads_found}) m {per_lead('m.id')} "
            f"ORDER BY {_order_by(ordering, alias='e')} LIMIT {reach})"
        )
    # Newest first, many leads (a common name): no event of a lead is newer than its
    # last_activity_at. The leads latest active give a first page and its oldest time
    # (`floor`); the other leads are read only if they were active since then (all of them
    # when the first page is short, or their last activity is unknown).
    return (
        f"(WITH m AS MATERIALIZED ({leads_found}), "
        f"c AS MATERIALIZED (SELECT id FROM m ORDER BY last_activity_at DESC NULLS FIRST "
        f"LIMIT {reach}), "
        f'top AS MATERIALIZED (SELECT e.id, e."timestamp" FROM c {per_lead("c.id")} '
        f'ORDER BY e."timestamp" DESC, e.id DESC LIMIT {reach}), '
        f't AS (SELECT CASE WHEN count(*) >= {reach} THEN min("timestamp") END AS floor '
        f"FROM top) "
        f"SELECT id FROM top UNION ALL "
        f"SELECT e.id FROM m CROSS JOIN t "
        f"{per_lead('m.id', _SINCE_FLOOR)} "
        f"WHERE m.id NOT IN (SELECT id FROM c) AND (t.floor IS NULL OR "
        f"m.last_activity_at IS NULL OR m.last_activity_at >= t.floor))"
    )


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
    if not f.search and ordering.descending and ordering.key in _KNOWN_VALUES:
        where = f"a.id IN ({_by_value_desc(f, p, conds, ordering, p.add(offset + limit))})"
    elif not f.search:
        where = _where(conds)
    else:
        # Each branch stops at the rows the page can use; the union is then ordered again.
        reach = p.add(offset + limit)
        text_branch = (
            f"(SELECT a.id FROM lead_activity_log a "
            f"WHERE {_where([*conds, _text_match(f.search, p)])} "
            f"ORDER BY {_order_by(ordering, opaque=text_by_index)} LIMIT {reach})"
        )
        lead_branch = _lead_branch(f, p, conds, ordering, reach)
        where = f"a.id IN ({text_branch} UNION {lead_branch})"
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
    rare = await _text_is_rare(conn, f, rare_matches)
    sql, values = build(rare)
    # A search's branches each stop after a page, whatever the planner's (often huge)
    # cost estimate: parallel workers and JIT compilation would cost more to start (tens
    # to hundreds of ms) than they could save.
    async with conn.transaction():
        await conn.execute(_NO_STARTUP_COSTS)
        if rare or budget_ms is None:
            return list(await conn.fetch(sql, *values))
        rows = await _within_budget(conn, sql, values, budget_ms, many=True)
        if rows is not None:
            return list(rows)
        sql, values = build(True)
        return list(await conn.fetch(sql, *values))


_NO_STARTUP_COSTS = "SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off"
# How long the text index may be asked whether a word the statistics do not know is rare.
RARE_PROBE_MS = 10


async def _text_is_rare(conn: asyncpg.Connection, f: ActivityFilter, rare_matches: int) -> bool:
    """Whether fewer than `rare_matches` events' text matches `f.search` (filters applied)."""
    if await _text_matches_estimate(conn, f) < rare_matches:
        return True
    # A word missing from the statistics is estimated at a fixed 0.5 % of the log (50,000
    # events at 10 million), which would walk the whole time index for a word that is not
    # there. Counting through the text index up to `rare_matches` takes a millisecond for a
    # rare word; a common one runs out of time and is treated as common.
    p = _Params()
    conds = [*_conditions(f, p), _text_match(f.search or "", p)]
    probe = (
        f"SELECT count(*) FROM (SELECT 1 FROM lead_activity_log a WHERE {_where(conds)} "
        f"LIMIT {p.add(rare_matches)}) s"
    )
    row = await _within_budget(conn, probe, p.values, RARE_PROBE_MS)
    return row is not None and int(row[0]) < rare_matches


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
            await conn.execute(
                f"SET LOCAL statement_timeout = {int(budget_ms)}; {_NO_STARTUP_COSTS}"
            )
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


# -- Cadence, for suggested watch rules -----------------------------------------------------


async def event_minutes_by_source(
    conn: asyncpg.Connection, since: datetime, source_pattern: str | None = None
) -> dict[str, list[datetime]]:
    """Per source, the distinct minutes (event time, UTC, ascending) it has events in since
    `since`; a LIKE `source_pattern` narrows the sources. Read once by `watch suggest`."""
    rows = await conn.fetch(
        """
        SELECT source, date_trunc('minute', "timestamp", 'UTC') AS minute
        FROM lead_activity_log
        WHERE "timestamp" >= $1 AND "timestamp" <= now() AND ($2::text IS NULL OR source LIKE $2)
        GROUP BY 1, 2
        ORDER BY 1, 2
        """,
        since,
        source_pattern,
    )
    found: dict[str, list[datetime]] = {}
    for r in rows:
        found.setdefault(r["source"], []).append(r["minute"])
    return found


# -- SMS facts, for the SMS_Audit reconcile ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmsFact:
    """An SMS event as reconcile compares it: type, time, and the message's names."""

    event_type: str
    timestamp: datetime
    campaign_id: str
    phone: str
    lead: str


async def sms_facts_between(
    conn: asyncpg.Connection, event_types: list[str], start: datetime, end: datetime
) -> list[SmsFact]:
    """Events of `event_types` with start <= time < end, with their campaign id and phone
    as the timeline shows them (metadata) and their lead (the Airtable id first)."""
    rows = await conn.fetch(
        """
        SELECT event_type, "timestamp",
               coalesce(metadata->>'campaign_id', metadata->>'campaignId', '') AS campaign_id,
               coalesce(metadata->>'phone', '') AS phone,
               coalesce(lead_airtable_id, lead_id::text) AS lead
        FROM lead_activity_log
        WHERE event_type = ANY($1::text[]) AND "timestamp" >= $2 AND "timestamp" < $3
        """,
        event_types,
        start,
        end,
    )
    return [SmsFact(*r) for r in rows]


async def analytics_rows(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """The stored events with these ids (those still there), as the analytics read them,
    each with its lead's client."""
    return await conn.fetch(
        """
        SELECT a.id, a.lead_id, l.client_id, a.event_type, a."timestamp", a.source, a.metadata
        FROM lead_activity_log AS a JOIN leads AS l ON l.id = a.lead_id
        WHERE a.id = ANY($1::uuid[])
        """,
        ids,
    )
