"""The API's page reads of `lead_activity_log`: timelines, the admin browser and the CSV
export (the filters they share are in `filters`, the counts in `counts`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from activitylog.contract.taxonomy import Category, EventType
from activitylog.domain.reads.query import ActivityFilter, Ordering, SortKey
from activitylog.storage.activity_log.filters import (
    _LEAD_COLUMNS,
    _PRIMARY_COLUMN,
    _READ_COLUMNS,
    LEAD_NAME_ORDER,
    _conditions,
    _keyset,
    _order_by,
    _Params,
    _text_match,
    _where,
    lead_conditions,
    lead_match,
    name_order,
)
from activitylog.storage.activity_log.planner import (
    _NO_STARTUP_COSTS,
    _estimate,
    _within_budget,
    keeps_one_plan,
    text_path,
)

# A filter (or text search) expected to match fewer rows than this reads its matches first;
# a commoner one walks an index in the page's order (time, or the leads by name), where
# matches come soon. (The two cost the same near sqrt(page size × table rows): about
# 7,000 matches for a page of 50 in a million events.)
RARE_MATCHES = 10_000
# A sort by lead reads and sorts at most this many matches when its walk of the leads
# runs out of time; more, and it walks on.
SORTABLE_MATCHES = 100_000


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
        f'SELECT e.id, e."timestamp" FROM unnest({p.add(values)}::text[]) AS v(value) '
        f'CROSS JOIN LATERAL (SELECT a.id, a."timestamp" FROM lead_activity_log a '
        f"WHERE {_where([f'a.{column} = v.value', *conds])} "
        f'ORDER BY a."timestamp" DESC, a.id DESC LIMIT {reach}) e '
        f'ORDER BY v.value DESC, e."timestamp" DESC, e.id DESC LIMIT {reach}'
    )


# Lower bounds on a lead's events as one comparison, so that each lead's read skips the
# months before it (run-time partition pruning; an `IS NULL OR` would read every month).
_SINCE_FLOOR = "a.\"timestamp\" >= coalesce(t.floor, '-infinity')"
_SINCE_GUESS = "a.\"timestamp\" >= coalesce(b.since, '-infinity')"


def _walk_leads(
    p: _Params,
    conds: list[str],
    leads_where: list[str],
    ordering: Ordering,
    after: tuple[Any, ...] | None,
    reach: str,
    *,
    found: bool = False,
) -> str:
    """Leads walked in name order from the cursor's lead on, each one's events newest first
    through the (lead, time) index: a page costs the leads it passes, not a sort of the log.

    `found`: leads a search finds. They are ordered in a subquery of their own, so the
    planner can find them first through the trigram indexes and sort them (else it reads
    every found lead's events before sorting); every lead is walked through the index.
    """
    direction = "DESC" if ordering.descending else "ASC"
    name, lead = ("s.name", "s.id") if found else (LEAD_NAME_ORDER, "l.id")
    leads_where, events_where = [*leads_where], [*conds]
    if after is not None:
        position = f"({name_order(p.add(after[0]))}, {p.add(after[1])}::uuid)"
        from_lead = "<=" if ordering.descending else ">="
        leads_where.append(f"({LEAD_NAME_ORDER}, l.id) {from_lead} {position}")
        events_where.append(
            f"(({name}, {lead}) <> {position} OR "
            f'(a."timestamp", a.id) < ({p.add(after[2])}, {p.add(after[3])}::uuid))'
        )
    events = (
        f'CROSS JOIN LATERAL (SELECT a.id, a."timestamp" FROM lead_activity_log a '
        f"WHERE {_where([f'a.lead_id = {lead}', *events_where])} "
        f'ORDER BY a."timestamp" DESC, a.id DESC LIMIT {reach}) e'
    )
    order = f'{name} {direction}, {lead} {direction}, e."timestamp" DESC, e.id DESC'
    if found:
        return (
            f'SELECT e.id, e."timestamp" FROM (SELECT l.id, {LEAD_NAME_ORDER} AS name FROM leads l '
            f"WHERE {_where(leads_where)} ORDER BY name {direction}, id {direction}) s "
            f"{events} ORDER BY {order} LIMIT {reach}"
        )
    return (
        f'SELECT e.id, e."timestamp" FROM leads l {events} WHERE {_where(leads_where)} '
        f"ORDER BY {order} LIMIT {reach}"
    )


def _sort_matches_by_lead(
    conds: list[str], keyset: list[str], ordering: Ordering, reach: str
) -> str:
    """Every matching event read through the filters' own index, then joined to its lead
    and sorted: for few matches. Materialised, or the planner turns it back into a walk of
    the leads on an estimate (a word it has no statistics for is 0.5 % of the log)."""
    return (
        f'WITH m AS MATERIALIZED (SELECT a.id, a.lead_id, a."timestamp" '
        f"FROM lead_activity_log a WHERE {_where(conds)}) "
        f'SELECT a.id, a."timestamp" FROM m a JOIN leads l ON l.id = a.lead_id '
        f"WHERE {_where(keyset)} "
        f"ORDER BY {_order_by(ordering)} LIMIT {reach}"
    )


def _by_lead(
    f: ActivityFilter,
    p: _Params,
    ordering: Ordering,
    after: tuple[Any, ...] | None,
    reach: str,
    matches_first: bool,
) -> str:
    """A page by lead name's candidates (id, time), from the matches (few) or a walk of the
    leads (many); a search's matching leads are walked in any case."""
    conds = _conditions(f, p)

    def candidates(*extra: str) -> str:
        if matches_first:
            keyset = [_keyset(ordering, after, p)] if after is not None else []
            return _sort_matches_by_lead([*conds, *extra], keyset, ordering, reach)
        return _walk_leads(p, [*conds, *extra], lead_conditions(f, p), ordering, after, reach)

    if not f.search:
        return candidates()
    leads = [*lead_conditions(f, p), lead_match(f.search, p)]
    found = _walk_leads(p, conds, leads, ordering, after, reach, found=True)
    return f"({candidates(_text_match(f.search, p))}) UNION ({found})"


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
            f'(SELECT e.id, e."timestamp" FROM ({leads_found}) m {per_lead("m.id")} '
            f"ORDER BY {_order_by(ordering, alias='e')} LIMIT {reach})"
        )
    # Newest first, many leads (a common name): no event of a lead is newer than its
    # last_activity_at. The leads latest active give a first page and its oldest time
    # (`floor`); the other leads are read only if they were active since then (all of them
    # when the first page is short, or their last activity is unknown). Those leads' page is
    # first read since the oldest of their last activities (`since`): each has an event
    # then, as a rule, so each lead's months before it are skipped (at 50 M events, 25
    # months probed per lead, cold, took a second). A short read is read again in full.
    first = f'ORDER BY e."timestamp" DESC, e.id DESC LIMIT {reach}'
    return (
        f"(WITH m AS MATERIALIZED ({leads_found}), "
        f"c AS MATERIALIZED (SELECT id, last_activity_at FROM m "
        f"ORDER BY last_activity_at DESC NULLS FIRST LIMIT {reach}), "
        f"b AS (SELECT min(last_activity_at) AS since FROM c), "
        f'near AS MATERIALIZED (SELECT e.id, e."timestamp" FROM c CROSS JOIN b '
        f"{per_lead('c.id', _SINCE_GUESS)} {first}), "
        f"top AS MATERIALIZED (SELECT * FROM near WHERE (SELECT count(*) FROM near) >= {reach} "
        f'UNION ALL (SELECT e.id, e."timestamp" FROM c {per_lead("c.id")} '
        f"WHERE (SELECT count(*) FROM near) < {reach} {first})), "
        f't AS (SELECT CASE WHEN count(*) >= {reach} THEN min("timestamp") END AS floor '
        f"FROM top) "
        f'SELECT id, "timestamp" FROM top UNION ALL '
        f'SELECT e.id, e."timestamp" FROM m CROSS JOIN t '
        f"{per_lead('m.id', _SINCE_FLOOR)} "
        f"WHERE m.id NOT IN (SELECT id FROM c) AND (t.floor IS NULL OR "
        f"m.last_activity_at IS NULL OR m.last_activity_at >= t.floor))"
    )


def _rows_of(candidates: str) -> str:
    """The log's rows of `candidates` (a query of id and time), as `a`: one probe of the
    (id, time) key each, so that only the candidate's month is read. An `a.id IN (…)` join
    can use no index on the partitioned log (it has none on id alone) and the planner,
    misled by a union's estimate, would scan every month (seconds at 10 M events)."""
    return (
        f'(SELECT DISTINCT k.id, k."timestamp" FROM ({candidates}) k) c '
        f"CROSS JOIN LATERAL (SELECT {_READ_COLUMNS} FROM lead_activity_log a "
        f'WHERE a.id = c.id AND a."timestamp" = c."timestamp" LIMIT 1) a'
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
    matches_first: bool,
) -> str:
    """The page query (values go to `p`). `matches_first`: read the matching rows through
    the filters' (or the text's) index and sort them, rather than walk an index in the
    page's order until the page is full."""
    if ordering.key == SortKey.LEAD:
        # Ordered by the lead's name: the leads are joined before the sort.
        rows = _rows_of(_by_lead(f, p, ordering, after, p.add(offset + limit), matches_first))
        return (
            f"SELECT {_READ_COLUMNS}, {_LEAD_COLUMNS} FROM {rows} "
            f"JOIN leads l ON l.id = a.lead_id "
            f"ORDER BY {_order_by(ordering)} LIMIT {p.add(limit)} OFFSET {p.add(offset)}"
        )
    conds = _conditions(f, p)
    if after is not None:
        conds.append(_keyset(ordering, after, p))
    order = _order_by(ordering)
    if not f.search and ordering.descending and ordering.key in _KNOWN_VALUES:
        source = _rows_of(_by_value_desc(f, p, conds, ordering, p.add(offset + limit)))
    elif not f.search:
        source = f"lead_activity_log a WHERE {_where(conds)}"
    else:
        # Each branch stops at the rows the page can use; the union is then ordered again.
        reach = p.add(offset + limit)
        text_branch = (
            f'(SELECT a.id, a."timestamp" FROM lead_activity_log a '
            f"WHERE {_where([*conds, _text_match(f.search, p)])} "
            f"ORDER BY {_order_by(ordering, opaque=matches_first)} LIMIT {reach})"
        )
        lead_branch = _lead_branch(f, p, conds, ordering, reach)
        source = _rows_of(f"{text_branch} UNION {lead_branch}")
    page = (
        f"SELECT {_READ_COLUMNS} FROM {source} "
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
    """One page of events matching `f`, after the keyset position `after` or at `offset`
    (with their leads' names unless `with_lead` is false), as rows; `events.browse_events`
    reads them as typed events."""
    page = _Page(ordering, after, limit, offset, with_lead, budget_ms, rare_matches)
    return await _browse(conn, f, page)


@dataclass(frozen=True, slots=True)
class _Page:
    """Which page `browse` reads, and how (its arguments)."""

    ordering: Ordering
    after: tuple[Any, ...] | None
    limit: int
    offset: int
    with_lead: bool
    budget_ms: int | None
    rare_matches: int


async def _browse(conn: asyncpg.Connection, f: ActivityFilter, page: _Page) -> list[asyncpg.Record]:
    # A text search, and a sort by lead, take the path their expected matches suit
    # (`rare_matches`). When that guess is wrong the walk of the time index (or of the
    # leads) can read the whole table, so it gets `budget_ms` and past it the matches are
    # read first instead.

    def build(matches_first: bool) -> tuple[str, list[Any]]:
        p = _Params()
        sql = _page_sql(
            f,
            p,
            ordering=page.ordering,
            after=page.after,
            limit=page.limit,
            offset=page.offset,
            with_lead=page.with_lead,
            matches_first=matches_first,
        )
        return sql, p.values

    budget_ms = page.budget_ms
    known = True
    if f.search:
        estimate, rare, known = await text_path(conn, f, page.rare_matches)
    elif page.ordering.key == SortKey.LEAD:
        # A filter few events pass is read and sorted; a broad one walks the leads, where a
        # page fills soon (a wrong guess is caught by the budget below).
        estimate = await _estimate(conn, f)
        rare = estimate < page.rare_matches
    else:
        sql, values = build(False)
        one_plan = keeps_one_plan(f)
        return list(await _within_budget(conn, sql, values, None, many=True, one_plan=one_plan))
    # Past the budget, matches this many are no faster to sort than to walk: at 50 M events
    # sorting them all outlasted the statement timeout (a 503 for every page of a broad
    # filter sorted by lead, and of a word in 2 % of the events sorted by lead). A guess
    # (a word the statistics do not know, most often rare) is read and sorted.
    sortable = estimate <= SORTABLE_MATCHES or not known
    sql, values = build(rare)
    # A search's branches and a walk of the leads each stop after a page, whatever the
    # planner's (often huge) cost estimate: parallel workers and JIT compilation would
    # cost more to start (tens to hundreds of ms) than they could save.
    async with conn.transaction():
        # Planned at each read (`keeps_one_plan`): a plan made without the words may scan
        # every month, computing each event's text vector (a minute at 10 M events).
        await conn.execute(_NO_STARTUP_COSTS)
        if rare or budget_ms is None:
            return list(await conn.fetch(sql, *values))
        rows = await _within_budget(conn, sql, values, budget_ms, many=True)
        if rows is not None:
            return list(rows)
        # Past the budget: the matches read and sorted when few enough, else the same walk
        # again (its pages now cached), without the budget.
        sql, values = build(sortable)
        return list(await conn.fetch(sql, *values))
