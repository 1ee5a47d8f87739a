"""The browser's query plans (text index or time walk, UNION of branches, keyset) all return
exactly what one plain OR query returns, page after page, in every sort order."""

from __future__ import annotations

import random
import uuid
from typing import Any

import orjson
import pytest

from activitylog.domain.reads.query import ActivityFilter, Ordering, SortKey
from activitylog.storage.activity_log import planner, queries
from activitylog.storage.activity_log.counts import count_by_category, count_capped
from activitylog.storage.activity_log.events import browse_events as browse
from activitylog_testing.leads import add_lead
from api_support import event_row, insert_rows, times

WORDS = ["appointment", "tomorrow", "reply", "confirm", "solar", "roof", "quote", "stop"]
KINDS = [("MESSAGE_SENT", "SMS"), ("NOTE_ADDED", "MANUAL"), ("BOOKING_CONFIRMED", "BOOKING")]


def _kind(i: int) -> tuple[str, str]:
    """Event i's (type, category): SMS 60 %, MANUAL 30 %, BOOKING 10 % of every ten."""
    return ([KINDS[0]] * 6 + [KINDS[1]] * 3 + [KINDS[2]])[i % 10]


def _assert_tabs(tabs: dict, exact: dict[str, int], past: list[str], cap: int) -> None:
    """`exact` counted exactly; each of `past` estimated, never below `cap`."""
    assert {n: (tabs[n].value, tabs[n].estimated) for n in exact} == {
        n: (v, False) for n, v in exact.items()
    }
    for name in past:
        assert tabs[name].estimated, name
        assert tabs[name].value >= cap, name


async def _oracle(conn, search: str, ordering: Ordering, client: uuid.UUID | None) -> list:
    """The naive query: one OR, no UNION, no index tricks."""
    direction = "DESC" if ordering.descending else "ASC"
    column = {SortKey.EVENT_TYPE: "a.event_type", SortKey.EVENT_CATEGORY: "a.event_category"}.get(
        ordering.key
    )
    if ordering.key == SortKey.LEAD:
        # Every lead here has a capitalised ASCII name: lower() in byte order is the order
        # a person reads.
        column = "lower(l.first_name || ' ' || l.last_name)"
        direction = f"{direction}, l.id {direction}"
    order = (
        f'a."timestamp" {direction}, a.id {direction}'
        if column is None
        else f'{column} {direction}, a."timestamp" DESC, a.id DESC'
    )
    rows = await conn.fetch(
        f"""
        SELECT a.id FROM lead_activity_log a JOIN leads l ON l.id = a.lead_id
        WHERE ($2::uuid IS NULL OR a.client_id = $2)
          AND (to_tsvector('english', a.description || ' ' || coalesce(a.message_content, ''))
                   @@ websearch_to_tsquery('english', $1)
               OR strpos(lower(l.first_name || ' ' || l.last_name), lower($1)) > 0
               OR strpos(lower(l.email), lower($1)) > 0)
        ORDER BY {order}
        """,
        search,
        client,
    )
    return [r["id"] for r in rows]


async def test_every_plan_returns_what_the_plain_query_returns(pool) -> None:
    rng = random.Random(5)
    client = uuid.uuid4()
    leads = [
        await add_lead(
            pool,
            f"recPlan{i:05d}",
            client_id=client if i % 2 else None,
            first_name=rng.choice(["Ana", "Bob", "Cy"]),
            last_name=rng.choice(["Roof", "Stone", "Lopez"]),
            email=f"user{i}@example.com",
        )
        for i in range(30)
    ]
    stamps = times(400)
    rows = []
    for i in range(1_200):
        kind = KINDS[i % 3]
        lead = rng.randrange(30)
        rows.append(
            event_row(
                leads[lead],
                client_id=client if lead % 2 else None,
                event_type=kind[0],
                category=kind[1],
                message=" ".join(rng.choice(WORDS) for _ in range(4)),
                timestamp=stamps[rng.randrange(400)],  # many share a timestamp
            )
        )
    await insert_rows(pool, rows)
    await pool.execute("ANALYZE lead_activity_log")
    orderings = [
        Ordering(),
        Ordering(SortKey.TIMESTAMP, descending=False),
        Ordering(SortKey.EVENT_TYPE, descending=False),
        Ordering(SortKey.EVENT_CATEGORY, descending=True),
        Ordering(SortKey.LEAD, descending=False),
        Ordering(SortKey.LEAD, descending=True),
    ]
    sizes = set()
    async with pool.acquire() as conn:
        for search in ("solar", "roof", "Stone", "quote -reply", "user7@", "nothingmatches"):
            for ordering in orderings:
                for pinned in (None, client):
                    flt = ActivityFilter(search=search, client_id=pinned)
                    expected = await _oracle(conn, search, ordering, pinned)
                    sizes.add(len(expected))
                    # 0: always walk the time index; 10**9: always read the text index.
                    for rare_matches in (0, 10**9):
                        seen: list[uuid.UUID] = []
                        after = None
                        while True:
                            page = await browse(
                                conn,
                                flt,
                                ordering=ordering,
                                after=after,
                                limit=97,
                                rare_matches=rare_matches,
                                budget_ms=10_000,
                            )
                            seen += [r.id for r in page]
                            label = (search, ordering, pinned, rare_matches)
                            # A cursor that does not move on would page forever.
                            assert len(seen) <= len(expected), label
                            if len(page) < 97:
                                break
                            after = ordering.position(page[-1])
                        assert seen == expected, label
                    offset_page = await browse(conn, flt, ordering=ordering, limit=40, offset=80)
                    assert [r.id for r in offset_page] == expected[80:120]
            count = await count_capped(conn, ActivityFilter(search=search), cap=100_000)
            assert count.value == len(await _oracle(conn, search, Ordering(), None))
            assert not count.estimated
        # Several pages for most searches, none for one: the walk above covers both.
        assert max(sizes) > 3 * 97
        assert min(sizes) == 0
        tabs = await count_by_category(
            conn, ActivityFilter(search="solar"), ["SMS", "MANUAL"], 10**6
        )
        solar = await _oracle(conn, "solar", Ordering(), None)
        assert tabs["all"].value == len(solar)
        assert tabs["SMS"].value + tabs["MANUAL"].value < len(solar)


async def test_far_beyond_the_cap_each_category_is_the_whole_times_its_share(pool) -> None:
    lead = await add_lead(pool, "recShare00001", first_name="Ana", last_name="Roof")
    stamps = times(100)
    rows = [
        event_row(
            lead,
            event_type=_kind(i)[0],
            category=_kind(i)[1],
            message=f"quote {i}",
            timestamp=stamps[i % 100],
        )
        for i in range(2_000)
    ]
    await insert_rows(pool, rows)
    await pool.execute("ANALYZE lead_activity_log")
    async with pool.acquire() as conn:
        # A cap of 10: the whole (2,000 estimated) is far beyond it, so nothing is counted.
        tabs = await count_by_category(conn, ActivityFilter(), ["SMS", "MANUAL", "BOOKING"], 10)
    assert tabs["all"].estimated
    whole = tabs["all"].value
    assert 1_500 <= whole <= 2_500
    for category, share in (("SMS", 0.6), ("MANUAL", 0.3), ("BOOKING", 0.1)):
        assert tabs[category].estimated
        assert abs(tabs[category].value - whole * share) <= whole * 0.02, (category, tabs)


async def test_a_leads_tabs_are_exact_within_the_cap_and_counted_apart_beyond_it(pool) -> None:
    ana = await add_lead(pool, "recTabs000001", first_name="Ana", last_name="Tabs")
    other = await add_lead(pool, "recTabs000002", first_name="Ben", last_name="Tabs")
    stamps = times(100)
    rows = [
        event_row(ana, event_type=_kind(i)[0], category=_kind(i)[1], timestamp=stamps[i])
        for i in range(100)
    ]
    rows += [event_row(other, timestamp=stamps[i]) for i in range(50)]
    await insert_rows(pool, rows)
    await pool.execute("ANALYZE lead_activity_log")
    categories = ["SMS", "MANUAL", "BOOKING", "CAMPAIGN"]
    async with pool.acquire() as conn:
        within = await count_by_category(conn, ActivityFilter(lead_id=ana), categories, 100)
        beyond = await count_by_category(conn, ActivityFilter(lead_id=ana), categories, 40)
        late = await count_by_category(
            conn, ActivityFilter(lead_id=ana, since=stamps[50]), categories, 100
        )
    # Within the cap: every tab exact, an empty category included.
    assert set(within) == {"all", *categories}
    _assert_tabs(within, {"all": 100, "SMS": 60, "MANUAL": 30, "BOOKING": 10, "CAMPAIGN": 0}, [], 0)
    # Beyond it: the whole and the category past the cap estimated (never below the cap),
    # the others still counted exactly.
    _assert_tabs(beyond, {"MANUAL": 30, "BOOKING": 10}, ["all", "SMS"], 40)
    # The filter's other conditions hold in the one pass too.
    expected = await pool.fetch(
        "SELECT event_category, count(*) AS n FROM lead_activity_log "
        'WHERE lead_id = $1 AND "timestamp" >= $2 GROUP BY 1',
        ana,
        stamps[50],
    )
    assert {c: late[c].value for c in categories if late[c].value} == {
        r["event_category"]: r["n"] for r in expected
    }
    assert late["all"].value == sum(r["n"] for r in expected)


async def test_a_searchs_tabs_count_each_match_once_within_the_cap_and_apart_beyond_it(
    pool,
) -> None:
    # "roof" matches all of Ana's 100 events by her name, and half of them by their text
    # too: each is one match, in one category, however many ways it matches.
    ana = await add_lead(pool, "recSTabs00001", first_name="Ana", last_name="Roof")
    ben = await add_lead(pool, "recSTabs00002", first_name="Ben", last_name="Slate")
    stamps = times(100)
    rows = [
        event_row(
            ana,
            event_type=_kind(i)[0],
            category=_kind(i)[1],
            message="roof quote" if i % 2 else "quote",
            timestamp=stamps[i],
        )
        for i in range(100)
    ]
    rows += [event_row(ben, message="roof survey", timestamp=stamps[i]) for i in range(20)]
    await insert_rows(pool, rows)
    await pool.execute("ANALYZE lead_activity_log")
    categories = ["SMS", "MANUAL", "BOOKING", "CAMPAIGN"]
    roof = ActivityFilter(search="roof")
    async with pool.acquire() as conn:
        within = await count_by_category(conn, roof, categories, 1_000)
        beyond = await count_by_category(conn, roof, categories, 40)
    expected = {
        r["event_category"]: r["n"]
        for r in await pool.fetch(
            "SELECT event_category, count(*) AS n FROM lead_activity_log "
            "WHERE lead_id = $1 OR (lead_id = $2 AND message_content LIKE '%roof%') GROUP BY 1",
            ana,
            ben,
        )
    }
    assert sum(expected.values()) == 120
    assert set(within) == {"all", *categories}
    every = {"all": 120, "SMS": expected["SMS"], "MANUAL": 30, "BOOKING": 10, "CAMPAIGN": 0}
    _assert_tabs(within, every, [], 0)
    # Beyond the cap: the whole and SMS (80) past it, estimated and never below it; the
    # others still exact, each counted once although both branches match it.
    _assert_tabs(beyond, {"MANUAL": 30, "BOOKING": 10, "CAMPAIGN": 0}, ["all", "SMS"], 40)


@pytest.mark.parametrize("search", [None, "solar"], ids=["no search", "a word"])
@pytest.mark.parametrize("sortable", [0, 10**9], ids=["walk again", "sort the matches"])
async def test_a_sort_by_lead_past_its_budget_still_returns_the_plain_querys_page(
    pool, monkeypatch: pytest.MonkeyPatch, sortable: int, search: str | None
) -> None:
    # The walk of the leads runs out of time: the matches are read and sorted when few
    # enough (by the planner's estimate, a search's too), else the walk runs again without
    # a budget. Either way, the same page.
    rng = random.Random(11)
    leads = [
        await add_lead(pool, f"recOver{i:04d}", first_name=rng.choice(["Ana", "Bob", "Cy"]))
        for i in range(12)
    ]
    stamps = times(300)
    await insert_rows(
        pool,
        [
            event_row(
                leads[i % 12],
                timestamp=stamps[i % 300],
                message=rng.choice(["solar panel quote", "hello"]),
            )
            for i in range(600)
        ],
    )
    await pool.execute("ANALYZE lead_activity_log")

    async def out_of_time(*args: object, **kwargs: object) -> None:
        return None

    monkeypatch.setattr(queries, "_within_budget", out_of_time)
    monkeypatch.setattr(queries, "SORTABLE_MATCHES", sortable)
    ordering = Ordering(SortKey.LEAD, descending=False)
    async with pool.acquire() as conn:
        expected = await conn.fetch(
            "SELECT a.id FROM lead_activity_log a JOIN leads l ON l.id = a.lead_id "
            "WHERE $1::text IS NULL OR a.message_content LIKE '%' || $1 || '%' "
            "ORDER BY lower(l.first_name || ' ' || l.last_name), l.id, "
            'a."timestamp" DESC, a.id DESC',
            search,
        )
        # rare_matches=0: every filter counts as broad, so the leads are walked first.
        page = await browse(
            conn,
            ActivityFilter(search=search),
            ordering=ordering,
            limit=50,
            offset=100,
            budget_ms=1,
            rare_matches=0,
        )
    assert len(expected) >= 150
    assert [r.id for r in page] == [r["id"] for r in expected][100:150]


def _plan(explained: Any) -> dict[str, Any]:
    plan = orjson.loads(explained) if isinstance(explained, str) else explained
    return dict(plan[0]["Plan"])


def _node_types(plan: dict[str, Any]) -> list[str]:
    return [plan["Node Type"], *(t for child in plan.get("Plans", ()) for t in _node_types(child))]


async def test_a_words_rare_probe_counts_through_the_text_index_never_a_scan_of_the_months(
    pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Asked alone, the planner scans the months for the probe's LIMIT (at 50 M events, a
    # word that is not there then ran out of time every time, and its search walked the
    # whole log); the probe is run through the indexes' bitmaps only.
    lead = await add_lead(pool, "recProbe0001")
    stamps = times(300)
    await insert_rows(
        pool, [event_row(lead, timestamp=stamps[i % 300], message="hello") for i in range(3000)]
    )
    await pool.execute("ANALYZE lead_activity_log")
    absent = ActivityFilter(search="zebra")
    sql, values = planner.rare_probe(absent, 10_000)
    explain = "EXPLAIN (FORMAT JSON) " + sql
    async with pool.acquire() as conn:
        asked_alone = await planner._within_budget(conn, explain, values, 5_000)
        probed = await planner._within_budget(conn, explain, values, 5_000, bitmaps_only=True)
        # rare_matches=1: the estimate is above it, so the probe decides. What is asserted
        # is the probe's path and count, not its 10 ms budget (a loaded test run outlasts it).
        monkeypatch.setattr(planner, "RARE_PROBE_MS", 5_000)
        path = await planner.text_path(conn, absent, 1)
    alone, through = (_node_types(_plan(r[0])) for r in (asked_alone, probed))
    assert "Seq Scan" in alone
    assert "Seq Scan" not in through
    assert "Index Scan" not in through
    assert "Bitmap Index Scan" in through
    assert path[1:] == (True, False)  # rare, by the probe's count (the estimate a guess)


@pytest.mark.parametrize("category", [None, "MANUAL"], ids=["any", "older category"])
async def test_a_lead_name_search_newest_first_reads_its_leads_since_their_last_activities(
    pool, category: str | None
) -> None:
    # Many leads named alike, their last activity kept as the write path keeps it: the
    # first page is read since the oldest last activity of the leads latest active, and
    # again in full when that is short (their MANUAL events all older than their SMS).
    rng = random.Random(3)
    leads = [
        await add_lead(pool, f"recNear{i:04d}", first_name="Ana", last_name="Stone")
        for i in range(80)
    ]
    stamps = times(400, step_s=6 * 3600)  # 100 days: several months
    rows = []
    for _ in range(1_600):
        older = rng.random() < 0.3
        at = stamps[rng.randrange(150)] if older else stamps[150 + rng.randrange(250)]
        kind = KINDS[1] if older else KINDS[0]
        rows.append(
            event_row(
                leads[rng.randrange(80)],
                event_type=kind[0],
                category=kind[1],
                message="appointment tomorrow",
                timestamp=at,
            )
        )
    await insert_rows(pool, rows)
    await pool.execute(
        'UPDATE leads l SET last_activity_at = m.ts FROM (SELECT lead_id, max("timestamp") AS ts '
        "FROM lead_activity_log GROUP BY lead_id) m WHERE m.lead_id = l.id"
    )
    await pool.execute("ANALYZE lead_activity_log")
    categories = (category,) if category else ()
    flt = ActivityFilter(search="stone", categories=categories)
    async with pool.acquire() as conn:
        expected = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM lead_activity_log WHERE ($1::text IS NULL OR event_category = $1) "
                'ORDER BY "timestamp" DESC, id DESC',
                category,
            )
        ]
        for rare_matches in (0, 10**9):
            seen: list[uuid.UUID] = []
            after = None
            while len(seen) < 200:
                page = await browse(
                    conn, flt, after=after, limit=60, rare_matches=rare_matches, budget_ms=10_000
                )
                seen += [r.id for r in page]
                if len(page) < 60:
                    break
                after = Ordering().position(page[-1])
            assert seen == expected[: len(seen)], rare_matches
            assert len(seen) == min(len(expected), 240)
