"""Event counters: kept by following the log, never doubled, compacted, equal to a recount,
and exact for readers before the follower has taken a row in."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.domain.counters.rollups import (
    Basis,
    CountedEvent,
    CounterKey,
    Grain,
    client_moves,
    compaction_cutoffs,
    hour_window,
    increments,
    keys_of,
    minute_window,
)
from activitylog.storage import event_counts
from activitylog.use_cases.counters import following
from activitylog.use_cases.store_batch import move_history, store_batch
from support import event

NOW = datetime.now(UTC)
CLIENTS = [uuid.UUID(int=i + 1) for i in range(3)]
TYPES = ["MESSAGE_SENT", "INBOUND_REPLY", "BOOKING_CONFIRMED", "NOTE_ADDED"]


def accepted(n: int, *, when: datetime | None = None, **overrides: object) -> AcceptedEvent:
    """Event n: a lead per 10 events (its client fixed by the lead), 4 types, 2 sources."""
    fields: dict[str, object] = {
        "eventType": TYPES[n % 4],
        "leadAirtableId": f"recCount{n // 10:05d}",
        "clientId": str(CLIENTS[(n // 10) % 3]),
        "source": f"n8n:wf-{n % 2}",
        "timestamp": (when or NOW - timedelta(hours=n % 30, minutes=n % 60)).isoformat(),
    }
    body = event(n, **(fields | overrides))
    return AcceptedEvent.accept(parse_event(body), received_at=NOW, origin=f"t-{n}", raw="")


async def store(pool: asyncpg.Pool, events: list[AcceptedEvent]):
    async with pool.acquire() as conn:
        return await store_batch(conn, events)


async def snapshot(pool: asyncpg.Pool) -> dict[tuple, int]:
    """Every counter with its shards added up, once the follower has taken every row in."""
    async with pool.acquire() as conn:
        await following.catch_up(conn)
    rows = await pool.fetch(
        """
        SELECT basis, grain, bucket, category, event_type, source, client_id, sum(n) AS n
        FROM event_counts GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum(n) <> 0
        """
    )
    return {tuple(r)[:-1]: int(r["n"]) for r in rows}


async def log_totals(pool: asyncpg.Pool) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT event_category, count(*) AS n FROM lead_activity_log GROUP BY 1"
    )
    return {r["event_category"]: int(r["n"]) for r in rows}


async def test_a_recount_agrees_exactly_with_the_counters_every_path_kept(
    pool: asyncpg.Pool,
) -> None:
    await store(pool, [accepted(n) for n in range(300)])
    # A redelivery and a replay of events already stored add nothing.
    await store(pool, [accepted(n) for n in range(0, 300, 7)])
    # Concurrent batches overlapping each other and what is stored.
    batches = [[accepted(n) for n in range(s, s + 150)] for s in (250, 300, 350, 250)]
    await asyncio.gather(*(store(pool, b) for b in batches))
    # A backfill: last year's events count under their own time, and under today's arrival.
    last_year = NOW - timedelta(days=365)
    await store(pool, [accepted(n, when=last_year + timedelta(hours=n)) for n in range(600, 700)])
    # The follower takes these in (as the retry service would, shortly after each commit)...
    async with pool.acquire() as conn:
        assert await following.catch_up(conn) == 500 + 100
    # ... so a lead that moves to another client moves counts already kept; a client-less
    # stub then adopts one while its rows are not taken in yet (they count as moved later).
    async with pool.acquire() as conn, conn.transaction():
        lead = await conn.fetchval(
            "SELECT id FROM leads WHERE airtable_record_id = 'recCount00003'"
        )
        assert await move_history(conn, {lead: CLIENTS[2]}) == 10
    await store(
        pool, [accepted(n, clientId=None, leadAirtableId="recNoClient1") for n in (800, 801)]
    )
    await store(pool, [accepted(802, leadAirtableId="recNoClient1")])
    # Compaction as it would run three days from now: every minute goes, every hour rolls.
    later = compaction_cutoffs(NOW + timedelta(days=3))
    async with pool.acquire() as conn:
        await following.catch_up(conn)
        done = await event_counts.compact(conn, later)
    assert done.minutes_dropped > 0
    assert done.hours_rolled > 0
    # Last year's days are older than the dashboard's window: one row per month now.
    assert done.days_rolled > 0
    old_grains = await pool.fetch(
        "SELECT DISTINCT grain FROM event_counts WHERE basis = 'event' AND bucket < $1",
        later.days_before,
    )
    assert [r["grain"] for r in old_grains] == ["month"]
    # And events after the compaction, into counters that now sit beside day counters.
    await store(pool, [accepted(n) for n in range(900, 950)])
    async with pool.acquire() as conn:
        await following.catch_up(conn)
        await event_counts.compact(conn, later)

    kept = await snapshot(pool)
    async with pool.acquire() as conn:
        counted = await event_counts.rebuild(conn, later)
    assert counted == await pool.fetchval("SELECT count(*) FROM lead_activity_log")
    assert await snapshot(pool) == kept
    async with pool.acquire() as conn:
        assert await event_counts.totals_by_category(conn) == await log_totals(pool)


async def test_nothing_counts_twice_and_a_backfill_counts_by_both_times(
    pool: asyncpg.Pool,
) -> None:
    old = datetime(2025, 6, 1, 10, 30, tzinfo=UTC)
    batch = [accepted(n, when=old) for n in range(40)]
    await store(pool, batch)
    await store(pool, batch)  # a redelivery of the whole batch
    await store(pool, [*batch[:10], accepted(40, when=old)])  # a partial replay
    async with pool.acquire() as conn:
        day = await event_counts.per_bucket(
            conn, Grain.DAY, datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 6, 2, tzinfo=UTC)
        )
        arrived = await event_counts.arrivals(
            conn, minute_window(datetime.now(UTC), 60)[0], hour_window(datetime.now(UTC), 24)[0]
        )
        by_client = await event_counts.totals_by_category(conn, client_id=CLIENTS[0])
    assert sum(r["n"] for r in day) == 41
    assert {r["bucket_start"] for r in day} == {datetime(2025, 6, 1, tzinfo=UTC)}
    assert arrived.in_minutes == arrived.in_hours == 41
    assert arrived.last_minute is not None
    assert arrived.last_minute >= minute_window(datetime.now(UTC), 60)[0]
    # Events 0–9 and 30–39 are client 0's (a lead per ten events, clients in turn).
    assert sum(by_client.values()) == 20


async def test_batches_sharing_every_counter_commit_side_by_side(pool: asyncpg.Pool) -> None:
    # Eight batches at once, each on its own connection, all counting into the same hours.
    when = NOW.replace(minute=5)
    batches = [[accepted(b * 100 + n, when=when) for n in range(100)] for b in range(8)]
    await asyncio.gather(*(store(pool, b) for b in batches))
    async with pool.acquire() as conn:
        totals = await event_counts.totals_by_category(conn)
    assert sum(totals.values()) == 800  # exact before the follower took anything in
    assert await pool.fetchval("SELECT count(*) FROM event_counts") == 0
    async with pool.acquire() as conn:
        await following.catch_up(conn)
        assert sum((await event_counts.totals_by_category(conn)).values()) == 800
    kept = await pool.fetchval("SELECT sum(n) FROM event_counts WHERE basis = 'event'")
    assert kept == 800


async def _follow_until(pool: asyncpg.Pool, done: asyncio.Event) -> int:
    """A follower replica: steps until `done`, then once more; returns the rows it took in."""
    taken = 0
    async with pool.acquire() as conn:
        while not done.is_set():
            taken += await following.step(conn, limit=37)  # small steps: many turns
            await asyncio.sleep(0)
        taken += await following.step(conn, limit=37)
    return taken


async def test_two_followers_take_every_row_in_exactly_once(pool: asyncpg.Pool) -> None:
    done = asyncio.Event()
    followers = [asyncio.create_task(_follow_until(pool, done)) for _ in range(2)]
    # Batches committing while both replicas follow, with replays of what is stored.
    for start in range(0, 600, 100):
        batches = [[accepted(n) for n in range(s, s + 60)] for s in (start, start + 40)]
        await asyncio.gather(*(store(pool, b) for b in batches))
    done.set()
    taken = await asyncio.gather(*followers)
    async with pool.acquire() as conn:
        taken.append(await following.catch_up(conn))
    assert sum(taken) == 600 == await pool.fetchval("SELECT count(*) FROM lead_activity_log")
    kept = await snapshot(pool)
    async with pool.acquire() as conn:
        await event_counts.rebuild(conn, compaction_cutoffs(datetime.now(UTC)))
    assert await snapshot(pool) == kept


async def test_a_row_committed_after_a_higher_one_was_read_is_not_skipped(
    pool: asyncpg.Pool,
) -> None:
    late = await pool.acquire()
    try:
        open_batch = late.transaction()
        await open_batch.start()
        # Its rows draw their positions first, and stay uncommitted...
        await store_batch(late, [accepted(n) for n in range(10)])
        # ... while a later batch, with higher positions, commits.
        await store(pool, [accepted(n) for n in range(100, 120)])
        async with pool.acquire() as conn:
            low = await conn.fetchval("SELECT max(position) FROM lead_activity_log")
            assert await following.step(conn) == 0  # the open transaction holds it back
            # Readers are exact meanwhile: the committed rows, counted on the fly.
            assert sum((await event_counts.totals_by_category(conn)).values()) == 20
        await open_batch.commit()
    finally:
        await pool.release(late)
    async with pool.acquire() as conn:
        positions = await conn.fetch("SELECT position FROM lead_activity_log ORDER BY position")
        assert min(r["position"] for r in positions) < low  # committed late, below
        assert await following.catch_up(conn) == 30
        assert sum((await event_counts.totals_by_category(conn)).values()) == 30
    kept = await snapshot(pool)
    assert sum(n for key, n in kept.items() if key[0] == "event") == 30
    async with pool.acquire() as conn:
        await event_counts.rebuild(conn, compaction_cutoffs(datetime.now(UTC)))
    assert await snapshot(pool) == kept


def test_what_one_event_adds() -> None:
    event_time = datetime(2026, 3, 1, 10, 17, 45, tzinfo=UTC)
    arrived = datetime(2026, 3, 2, 9, 5, 59, tzinfo=UTC)
    keys = keys_of(
        CountedEvent("INBOUND_REPLY", "SMS", "n8n:wf-1", CLIENTS[0], event_time, arrived)
    )
    minute, hour = arrived.replace(second=0), arrived.replace(minute=0, second=0)
    assert keys == (
        CounterKey(Basis.ARRIVAL, Grain.MINUTE, minute, "*", None, None, None),
        CounterKey(Basis.ARRIVAL, Grain.HOUR, hour, "*", None, None, None),
        CounterKey(
            Basis.ARRIVAL, Grain.MINUTE, arrived.replace(second=0), "SMS", None, "n8n:wf-1", None
        ),
        CounterKey(
            Basis.ARRIVAL,
            Grain.HOUR,
            arrived.replace(minute=0, second=0),
            "SMS",
            None,
            "n8n:wf-1",
            None,
        ),
        CounterKey(
            Basis.EVENT,
            Grain.HOUR,
            event_time.replace(minute=0, second=0),
            "SMS",
            "INBOUND_REPLY",
            None,
            CLIENTS[0],
        ),
    )
    same = CountedEvent("INBOUND_REPLY", "SMS", "n8n:wf-1", CLIENTS[0], event_time, arrived)
    assert set(increments([same, same]).values()) == {2}


def test_a_client_move_takes_from_one_client_and_gives_to_the_other() -> None:
    t = datetime(2026, 3, 1, 10, 17, tzinfo=UTC)
    moves = client_moves([(t, "NOTE_ADDED", "MANUAL", CLIENTS[0], CLIENTS[1])] * 3)
    assert sorted(moves.values()) == [-3, 3]
    assert {k.client_id: n for k, n in moves.items()} == {CLIENTS[0]: -3, CLIENTS[1]: 3}
    assert client_moves([(t, "NOTE_ADDED", "MANUAL", CLIENTS[0], CLIENTS[0])]) == {}


def test_compaction_cuts_on_bucket_boundaries() -> None:
    cut = compaction_cutoffs(datetime(2026, 3, 10, 15, 42, 7, tzinfo=UTC))
    assert cut.minutes_before == datetime(2026, 3, 8, 15, tzinfo=UTC)
    assert cut.hours_before == datetime(2026, 3, 7, tzinfo=UTC)
    assert minute_window(datetime(2026, 3, 1, 10, 17, 30, tzinfo=UTC), 60) == (
        datetime(2026, 3, 1, 9, 18, tzinfo=UTC),
        datetime(2026, 3, 1, 10, 18, tzinfo=UTC),
    )
    assert hour_window(datetime(2026, 3, 1, 10, 17, tzinfo=UTC), 24)[0] == datetime(
        2026, 2, 28, 11, tzinfo=UTC
    )
