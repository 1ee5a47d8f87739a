"""The browser's search and sort queries against PostgreSQL (no browser): metadata words,
forgiving lead look-ups, the lead-first search path, sorting and paging, source prefixes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ui_data import body, store_events

from activitylog.domain.reads.paging import keyset_page
from activitylog.domain.reads.query import ActivityFilter, Ordering, SortKey
from activitylog.storage import leads
from activitylog.storage.activity_log.events import browse_events as browse
from activitylog_testing.leads import add_lead

NAMES = [("Jonathan", "Miller"), ("Jon", "Snow"), ("Maria", "Jonas"), ("Ana", "Lopez")]


async def seed_many(pool: asyncpg.Pool) -> datetime:
    """Four named leads, 15 events each, a second apart; metadata names a campaign."""
    now = datetime.now(UTC).replace(microsecond=0)
    for n, (first, last) in enumerate(NAMES):
        await add_lead(
            pool,
            f"recQuery{n:04d}",
            first,
            last,
            email=f"{first.lower()}.{last.lower()}@example.com",
            phone=f"+1555000{n:04d}",
        )
    types = ["MESSAGE_SENT", "NOTE_ADDED", "CAMPAIGN_ENROLLED"]
    bodies = [
        body(
            types[i % 3],
            f"recQuery{n:04d}",
            f"Event {i} of lead {n}",
            now - timedelta(seconds=i * 4 + n),
            metadata={"campaign_name": f"Solar Spring {n}", "useCase": "roof-check"},
            source=["n8n:wf-1", "ui:note", "system:sync"][i % 3],
        )
        for n in range(len(NAMES))
        for i in range(15)
    ]
    await store_events(pool, bodies)
    return now


async def ids(pool: asyncpg.Pool, flt: ActivityFilter, **kw: object) -> list[uuid.UUID]:
    async with pool.acquire() as conn:
        return [r.id for r in await browse(conn, flt, **kw)]  # type: ignore[arg-type]


async def test_search_finds_metadata_values_name_prefixes_and_similar_spellings(pool) -> None:
    await seed_many(pool)
    # A metadata value (as written: no stemming) and a word of one.
    assert len(await ids(pool, ActivityFilter(search="roof-check"), limit=100)) == 60
    assert len(await ids(pool, ActivityFilter(search="Spring"), limit=100)) == 60
    # "jon" finds Jonathan, Jon and Maria Jonas by prefix/substring of name or email.
    found = await ids(pool, ActivityFilter(search="jon"), limit=100)
    assert len(found) == 45
    # A misspelt name still finds its lead (trigram word similarity).
    async with pool.acquire() as conn:
        rows = await leads.suggest(conn, "Jonathon")
        assert [r["first_name"] for r in rows][:1] == ["Jonathan"]
        by_phone = await leads.suggest(conn, "555 000 0003")
        assert [r["first_name"] for r in by_phone] == ["Ana"]
    # Source by kind and by prefix.
    assert len(await ids(pool, ActivityFilter(source_prefix="n8n"), limit=100)) == 20
    assert len(await ids(pool, ActivityFilter(source_prefix="ui:no"), limit=100)) == 20


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    search=st.sampled_from(["", "jon", "miller", "jonas@example", "lopez", "snow", "Spring 2"]),
    key=st.sampled_from(list(SortKey)),
    descending=st.booleans(),
    page_size=st.integers(min_value=1, max_value=17),
    event_type=st.sampled_from([None, "NOTE_ADDED"]),
)
async def test_lead_first_search_pages_match_a_plain_sort_of_every_match(
    pool, search: str, key: SortKey, descending: bool, page_size: int, event_type: str | None
) -> None:
    """Paging through the search (leads first, then each one's events) or the whole log
    (Z to A sorts read value by value) by cursor yields exactly the matching events in the
    order a plain sort of all of them gives."""
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT count(*) FROM lead_activity_log"):
            await seed_many(pool)
        flt = ActivityFilter(search=search or None, event_types=(event_type,) if event_type else ())
        ordering = Ordering(key, descending)
        everything = await browse(conn, flt, ordering=ordering, limit=1000)
        primary = {
            SortKey.EVENT_TYPE: lambda r: r.event_type,
            SortKey.EVENT_CATEGORY: lambda r: r.category,
            # The seeded names are plain ASCII: a person's order is the case-folded one.
            SortKey.LEAD: lambda r: (r.lead.display_name.casefold(), r.lead_id),
        }.get(key)
        newest_first = sorted(everything, key=lambda r: (r.timestamp, r.id), reverse=True)
        if primary:  # the primary key in `descending`, ties newest first
            expected = sorted(newest_first, key=primary, reverse=descending)
        else:
            expected = newest_first if descending else newest_first[::-1]
        assert [r.id for r in everything] == [r.id for r in expected]
        # The set: every event of a lead whose name or email holds the text, of that type
        # ("Spring 2" is a metadata phrase: lead 2's campaign).
        wanted = await conn.fetch(
            """
            SELECT a.id FROM lead_activity_log a JOIN leads l ON l.id = a.lead_id
            WHERE (strpos(lower(l.first_name || ' ' || l.last_name || ' ' || l.email),
                          lower($1)) > 0 OR $1 = ''
                   OR ($1 = 'Spring 2' AND l.airtable_record_id = 'recQuery0002'))
              AND ($2::text IS NULL OR a.event_type = $2)
            """,
            search,
            event_type,
        )
        assert {r.id for r in everything} == {r["id"] for r in wanted}
        paged: list[uuid.UUID] = []
        after = None
        while True:
            rows = await browse(conn, flt, ordering=ordering, after=after, limit=page_size + 1)
            page = keyset_page(rows, page_size, ordering.position)
            paged.extend(r.id for r in page.rows)
            if not page.has_more:
                break
            after = ordering.position(page.rows[-1])
        assert paged == [r.id for r in everything]


async def test_the_lead_column_sorts_by_the_shown_name_as_a_person_reads_it(pool) -> None:
    """By lead: the name shown (a stub's email, else its Airtable id), case and accents
    aside, each lead's events newest first; both directions, both plans, page by page."""
    now = datetime.now(UTC).replace(microsecond=0)
    shown = {
        "recOrder0001": ("Émile", "Zola", None),
        "recOrder0002": ("emma", "Stone", None),
        "recOrder0003": ("Alice", "Brown", None),
        "recOrder0004": ("", "", "zed@example.com"),
        "recOrder0005": ("", "", None),
    }
    for airtable_id, (first, last, email) in shown.items():
        await add_lead(pool, airtable_id, first, last, email=email)
    await store_events(
        pool,
        [
            body("NOTE_ADDED", airtable_id, f"note {i}", now - timedelta(minutes=i * 7 + n))
            for n, airtable_id in enumerate(shown)
            for i in range(3)
        ],
    )
    # Byte order would put "Émile" after every ASCII name and "emma" after "Zola".
    readers_order = ["Alice Brown", "Émile Zola", "emma Stone", "recOrder0005", "zed@example.com"]
    async with pool.acquire() as conn:
        for descending in (False, True):
            ordering = Ordering(SortKey.LEAD, descending)
            # 0: always walk the leads in name order; 10**9: always read the matches first.
            for rare_matches in (0, 10**9):
                rows: list = []
                after = None
                while True:
                    found = await browse(
                        conn, ActivityFilter(), ordering=ordering, after=after, limit=3,
                        rare_matches=rare_matches, budget_ms=10_000,
                    )  # fmt: skip
                    page = keyset_page(found, 2, ordering.position)
                    rows += page.rows
                    if not page.has_more:
                        break
                    after = ordering.position(page.rows[-1])
                names = list(dict.fromkeys(r.lead.display_name for r in rows))
                wanted = readers_order[::-1] if descending else readers_order
                assert names == wanted, (descending, rare_matches)
                assert len({r.id for r in rows}) == len(rows) == 15
                for name in names:
                    times = [r.timestamp for r in rows if r.lead.display_name == name]
                    assert times == sorted(times, reverse=True)
        # A lead filter holds for the walk of the leads as for the matches.
        for rare_matches in (0, 10**9):
            one = await browse(
                conn,
                ActivityFilter(lead_airtable_id="recOrder0002"),
                ordering=Ordering(SortKey.LEAD, False),
                rare_matches=rare_matches,
            )
            assert [r.lead.display_name for r in one] == ["emma Stone"] * 3
