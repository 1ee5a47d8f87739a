"""Following the log: the rule of which rows a follower has taken in, the analytics
follower never skipping a row that commits late, and how far the followers trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg

from activitylog.domain.followers import START, LogPlace, lag_seconds, taken
from activitylog.storage import analytics_rebuild, log_followers
from activitylog.storage.log_followers import Follower
from activitylog.use_cases.analytics import keeping
from activitylog.use_cases.counters import following
from activitylog.use_cases.health import health_report
from activitylog.use_cases.store_batch import store_batch
from activitylog_testing.analytics_history import LATE_REPLY, THREE_MESSAGES, accepted
from activitylog_testing.databases import empty_database

if TYPE_CHECKING:
    from conftest import Infra
from activitylog_testing.polling import wait_for


def test_a_row_is_taken_in_up_to_the_cursor_in_tx_then_position_order() -> None:
    cursor = LogPlace(tx=100, position=7)
    assert taken(None, cursor)  # stored before the followers: counted already
    assert taken(LogPlace(99, 500), cursor)  # an older transaction, a higher position
    assert taken(LogPlace(100, 7), cursor)
    assert not taken(LogPlace(100, 8), cursor)
    assert not taken(LogPlace(101, 1), cursor)
    assert not taken(LogPlace(1, 1), START)
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert lag_seconds(None, now) == 0.0
    assert lag_seconds(now - timedelta(seconds=3), now) == 3.0


async def facts_and_counts(pool: asyncpg.Pool) -> tuple[list[tuple], list[tuple]]:
    facts = await pool.fetch("SELECT * FROM lead_campaign_facts ORDER BY lead_id, campaign")
    counts = await pool.fetch(
        """
        SELECT grain, client_id, campaign, week, source, metric, dim, bucket, sum(n)
        FROM analytics_counts GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING sum(n) <> 0
        ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
        """
    )
    return [tuple(r) for r in facts], [tuple(r) for r in counts]


async def test_the_analytics_never_skip_a_row_committed_after_a_higher_one_was_read(
    pool: asyncpg.Pool,
) -> None:
    late = await pool.acquire()
    try:
        open_batch = late.transaction()
        await open_batch.start()
        await store_batch(late, accepted("recFollow0001", THREE_MESSAGES))
        async with pool.acquire() as conn:
            await store_batch(conn, accepted("recFollow0002", LATE_REPLY))
            # The open transaction began first: nothing after it may be taken in yet.
            assert await keeping.drain(conn) == 0
            assert await following.step(conn) == 0
            behind = await log_followers.untaken_since(conn, Follower.ANALYTICS)
            assert behind is not None  # the committed batch waits, and shows as lag
        await open_batch.commit()
    finally:
        await pool.release(late)
    async with pool.acquire() as conn:
        taken_in = await keeping.drain_all(conn)
        assert taken_in == len(THREE_MESSAGES) + len(LATE_REPLY)
        await following.catch_up(conn)
        for follower in Follower:
            assert await log_followers.untaken_since(conn, follower) is None
            assert await log_followers.untaken(conn, follower) == 0
    followed = await facts_and_counts(pool)
    assert followed[0]
    assert followed[1]
    async with pool.acquire() as conn:
        await analytics_rebuild.rebuild(conn)
        assert await keeping.drain_all(conn) == 0  # the rebuild left nothing to take in
    assert await facts_and_counts(pool) == followed


async def test_health_counts_exactly_and_says_how_far_the_followers_trail(
    pool: asyncpg.Pool, redis, settings
) -> None:
    async with pool.acquire() as conn:
        await store_batch(conn, accepted("recFollow0003", THREE_MESSAGES))
    report = await health_report(pool, redis, settings)
    # Exact before the counters' follower took anything in: the rows are counted on the fly.
    assert report["events_last_hour"] == report["events_last_24h"] == len(THREE_MESSAGES)
    assert set(report["followers_lag_s"]) == {"counters", "analytics"}
    assert report["followers_lag_s"]["counters"] >= 0
    late = settings.model_copy(update={"health_max_follow_lag_s": 0.000001})
    await wait_for(
        lambda: _lagging(pool, redis, late), message="a lag past the threshold in the reasons"
    )
    async with pool.acquire() as conn:
        await following.catch_up(conn)
        await keeping.drain_all(conn)
    report = await health_report(pool, redis, late)
    assert report["followers_lag_s"] == {"counters": 0.0, "analytics": 0.0}
    assert report["events_last_hour"] == len(THREE_MESSAGES)
    assert not any("trail the log" in r for r in report["reasons"])


async def _lagging(pool: asyncpg.Pool, redis, settings) -> bool:
    report = await health_report(pool, redis, settings)
    return any("counters trail the log" in r for r in report["reasons"])


async def test_a_transaction_open_in_another_database_does_not_hold_the_followers_back(
    pool: asyncpg.Pool, infra: Infra
) -> None:
    """One server, several databases (a dump, another product): only this database's
    transactions can write its log, so only they may hold its followers back."""
    async with empty_database(infra.admin_url, "activitylog_elsewhere") as elsewhere_url:
        elsewhere = await asyncpg.connect(elsewhere_url)
        try:
            open_elsewhere = elsewhere.transaction()
            await open_elsewhere.start()
            await elsewhere.execute("CREATE TABLE held (n int)")  # it has a transaction id now
            assert await elsewhere.fetchval("SELECT pg_current_xact_id_if_assigned()") is not None
            async with pool.acquire() as conn:
                await store_batch(conn, accepted("recFollow0003", THREE_MESSAGES))
                taken_in = await keeping.drain(conn)
                assert taken_in == len(THREE_MESSAGES)
                assert await following.step(conn) > 0
                assert await log_followers.untaken(conn, Follower.COUNTERS) == 0
            await open_elsewhere.rollback()
        finally:
            await elsewhere.close()
