"""Analytics kept by following the log: out-of-order, duplicate and late-backfill writes give
the hand-computed counts, and `rebuild` from the log agrees with them exactly."""

from __future__ import annotations

import functools
import random
import uuid
from collections import Counter
from datetime import timedelta

import asyncpg

from activitylog.contract.identity import AcceptedEvent
from activitylog.domain.analytics.counting import FULL_GRAIN
from activitylog.runtime.settings import Settings
from activitylog.storage import analytics, analytics_rebuild, lead_identities, log_followers
from activitylog.storage.log_followers import Follower
from activitylog.use_cases.analytics import keeping
from activitylog.use_cases.counters import following
from activitylog.use_cases.leads import saving as lead_saving
from activitylog.use_cases.store_batch import move_history, store_batch
from activitylog_retry.service import run_retry
from activitylog_testing.analytics_history import (
    CAMPAIGN,
    CLIENT,
    LATE_REPLY,
    LATE_REPLY_COUNTS,
    T0,
    THREE_MESSAGES,
    THREE_MESSAGES_COUNTS,
    accepted,
)
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import running


async def folded(pool: asyncpg.Pool) -> None:
    """What the retry service's keeper does: fold every row stored (and every note)."""
    async with pool.acquire() as conn:
        await keeping.drain_all(conn)


async def counts(pool: asyncpg.Pool) -> dict[tuple, int]:
    """Every count, shards added up, once the writes so far are folded in."""
    await folded(pool)
    rows = await pool.fetch(
        """
        SELECT grain, client_id, campaign, week, source, metric, dim, bucket, sum(n) AS n
        FROM analytics_counts GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING sum(n) <> 0
        """
    )
    return {tuple(r)[:-1]: int(r["n"]) for r in rows}


async def facts(pool: asyncpg.Pool) -> list[tuple]:
    await folded(pool)
    rows = await pool.fetch("SELECT * FROM lead_campaign_facts ORDER BY lead_id, campaign")
    return [tuple(r) for r in rows]


def of_campaign(all_counts: dict[tuple, int], client: uuid.UUID = CLIENT) -> dict[tuple, int]:
    out: Counter[tuple] = Counter()
    for (grain, cli, campaign, _week, _source, metric, dim, bucket), n in all_counts.items():
        if grain == FULL_GRAIN and cli == client and campaign == CAMPAIGN:
            out[(metric, dim, bucket)] += n
    return dict(out)


async def store(pool: asyncpg.Pool, events: list[AcceptedEvent]) -> None:
    async with pool.acquire() as conn:
        await store_batch(conn, events)


async def test_out_of_order_duplicate_and_late_writes_match_by_hand_and_the_rebuild(
    pool: asyncpg.Pool,
) -> None:
    first = accepted("recAnalytics0001", THREE_MESSAGES)
    second = accepted("recAnalytics0002", LATE_REPLY)
    rng = random.Random(15)
    shuffled = first + second
    rng.shuffle(shuffled)
    # Out of order, in small batches, each sent twice (the second time all duplicates).
    for start in range(0, len(shuffled), 3):
        await store(pool, shuffled[start : start + 3])
        await store(pool, shuffled[start : start + 3])
    got = of_campaign(await counts(pool))
    assert got == dict(Counter(THREE_MESSAGES_COUNTS) + Counter(LATE_REPLY_COUNTS))

    incremental = await counts(pool)
    stored_facts = await facts(pool)
    async with pool.acquire() as conn:
        await analytics_rebuild.rebuild(conn)
    assert await facts(pool) == stored_facts
    assert await counts(pool) == incremental


async def test_a_late_backfill_moves_the_cohort_and_agrees_with_the_rebuild(
    pool: asyncpg.Pool,
) -> None:
    await store(pool, accepted("recAnalytics0003", LATE_REPLY))
    # Weeks later a backfill brings a message sent ten days before the others.
    backfill = accepted(
        "recAnalytics0003", [("MESSAGE_SENT", -240.0, CAMPAIGN, None)], first=len(LATE_REPLY)
    )
    await store(pool, backfill)
    incremental = await counts(pool)
    weeks = {key[3] for key in incremental}
    assert weeks == {(T0 - timedelta(days=10)).date() - timedelta(days=4)}  # that Monday
    got = of_campaign(incremental)
    # Now two messages; the reply (25 h after the 2nd) follows the 2nd, not the 1st.
    assert got[("sent", "2", 0)] == 1
    assert got[("reply", "any", 6)] == 1
    assert got[("reply", "2", 6)] == 1
    async with pool.acquire() as conn:
        await analytics_rebuild.rebuild(conn)
    assert await counts(pool) == incremental


async def test_a_client_move_moves_the_counts(pool: asyncpg.Pool) -> None:
    await store(pool, accepted("recAnalytics0004", THREE_MESSAGES))
    lead = await pool.fetchval("SELECT id FROM leads WHERE airtable_record_id = 'recAnalytics0004'")
    other = uuid.UUID(int=0xB2)
    async with pool.acquire() as conn, conn.transaction():
        # As the lead's callers do: its client changes with its history, in one transaction
        # (the keeper and the rebuild read the client from `leads`).
        await conn.execute("UPDATE leads SET client_id = $1 WHERE id = $2", other, lead)
        await move_history(conn, {lead: other})
    moved = await counts(pool)
    assert of_campaign(moved) == {}
    assert of_campaign(moved, other) == THREE_MESSAGES_COUNTS
    async with pool.acquire() as conn:
        await analytics_rebuild.rebuild(conn)
    assert await counts(pool) == moved


async def test_a_purged_lead_leaves_the_counts(pool: asyncpg.Pool) -> None:
    await store(pool, accepted("recAnalytics0005", THREE_MESSAGES))
    await store(pool, accepted("recAnalytics0006", LATE_REPLY))
    async with pool.acquire() as conn:
        assert await lead_saving.purge(conn, "recAnalytics0005") is not None
    incremental = await counts(pool)
    assert of_campaign(incremental) == LATE_REPLY_COUNTS
    async with pool.acquire() as conn:
        await analytics_rebuild.rebuild(conn)
    assert await counts(pool) == incremental


async def test_two_merged_leads_count_as_one(pool: asyncpg.Pool) -> None:
    # The same person twice: enrolled and messaged as one lead, replying as the other.
    await store(pool, accepted("recAnalytics0007", THREE_MESSAGES[:5]))
    await store(pool, accepted("recAnalytics0008", THREE_MESSAGES[5:], first=5))
    survivor, absorbed = [
        await pool.fetchval("SELECT id FROM leads WHERE airtable_record_id = $1", ref)
        for ref in ("recAnalytics0007", "recAnalytics0008")
    ]
    async with pool.acquire() as conn, conn.transaction():
        await keeping.merge(conn, survivor, absorbed)
        await lead_identities.repoint(conn, absorbed, survivor)
    incremental = await counts(pool)
    assert of_campaign(incremental) == THREE_MESSAGES_COUNTS
    async with pool.acquire() as conn:
        await analytics_rebuild.rebuild(conn)
    assert await counts(pool) == incremental


async def test_compaction_folds_shards_and_drops_zeros(pool: asyncpg.Pool) -> None:
    await store(pool, accepted("recAnalytics0009", THREE_MESSAGES))
    lead = await pool.fetchval("SELECT id FROM leads WHERE airtable_record_id = 'recAnalytics0009'")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE leads SET client_id = $1 WHERE id = $2", uuid.UUID(int=0xB2), lead
        )
        await move_history(conn, {lead: uuid.UUID(int=0xB2)})  # leaves zeros behind
    await folded(pool)
    # A row as another writer's shard would hold it.
    await pool.execute(
        "UPDATE analytics_counts SET shard = 3 WHERE ctid IN "
        "(SELECT ctid FROM analytics_counts WHERE n > 0 LIMIT 5)"
    )
    before = await counts(pool)
    sharded = await pool.fetchval("SELECT count(*) FROM analytics_counts WHERE shard <> 0")
    async with pool.acquire() as conn:
        assert await analytics.compact(conn) == sharded >= 5
    assert await counts(pool) == before
    leftovers = await pool.fetchval(
        "SELECT count(*) FROM analytics_counts WHERE shard <> 0 OR n = 0"
    )
    assert leftovers == 0


TYPES = [
    "CAMPAIGN_ENROLLED",
    "MESSAGE_SENT",
    "MESSAGE_DELIVERED",
    "MESSAGE_FAILED",
    "INBOUND_REPLY",
    "BOOKING_CONFIRMED",
    "CAMPAIGN_COMPLETED",
    "CAMPAIGN_REMOVED",
    "OPT_OUT",
    "NOTE_ADDED",
]


async def test_random_histories_in_random_batches_agree_with_the_rebuild(
    pool: asyncpg.Pool,
) -> None:
    for seed in range(12):
        rng = random.Random(seed)
        events = []
        for lead in range(3):
            history = [
                (
                    rng.choice(TYPES),
                    rng.uniform(-200, 200),
                    rng.choice([CAMPAIGN, "autumn", None]),
                    rng.choice([None, "att", "verizon"]),
                )
                for _ in range(rng.randint(1, 14))
            ]
            events += accepted(f"recRandom{seed:03d}x{lead}", history)
        rng.shuffle(events)
        # Random batches, some events sent again (duplicates) in later batches.
        while events:
            size = rng.randint(1, 6)
            batch, events = events[:size], events[size:]
            await store(pool, batch + rng.sample(batch, k=rng.randint(0, len(batch))))
            if rng.random() < 0.3:
                await store(pool, batch)
        incremental = await counts(pool)
        stored_facts = await facts(pool)
        async with pool.acquire() as conn:
            await analytics_rebuild.rebuild(conn)
        assert await facts(pool) == stored_facts, seed
        assert await counts(pool) == incremental, seed


async def test_an_event_twice_in_one_batch_is_counted_once(pool: asyncpg.Pool) -> None:
    events = accepted("recAnalytics0010", THREE_MESSAGES)
    await store(pool, events + events[::-1])
    assert of_campaign(await counts(pool)) == THREE_MESSAGES_COUNTS
    # The event counters too (following the same log).
    async with pool.acquire() as conn:
        await following.catch_up(conn)
    counted = await pool.fetchval("SELECT sum(n) FROM event_counts WHERE basis = 'event'")
    assert counted == len(THREE_MESSAGES)


async def test_two_retry_services_fold_the_writes_in_once_and_agree_with_the_rebuild(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    fast = settings.model_copy(update={"analytics_keep_interval_s": 0.02})
    histories = [THREE_MESSAGES, LATE_REPLY] * 10
    async with (
        running(functools.partial(run_retry, fast)),
        running(functools.partial(run_retry, fast)),
    ):
        for n, history in enumerate(histories):
            await store(pool, accepted(f"recAnalyticsK{n:03d}", history))

        async def all_folded() -> bool:
            async with pool.acquire() as conn:
                return await log_followers.untaken(conn, Follower.ANALYTICS) == 0

        await wait_for(all_folded, timeout=30, message="the rows folded by the retry services")
    rows = await pool.fetch("SELECT * FROM analytics_counts")
    kept = Counter()
    for r in rows:
        kept[tuple(r)[:8]] += r["n"]
    incremental = {k: n for k, n in kept.items() if n}
    async with pool.acquire() as conn:
        await analytics_rebuild.rebuild(conn)
    assert await counts(pool) == incremental
    assert of_campaign(incremental) == dict(
        Counter({k: 10 * n for k, n in THREE_MESSAGES_COUNTS.items()})
        + Counter({k: 10 * n for k, n in LATE_REPLY_COUNTS.items()})
    )
