"""Retention with an archive: an expired month is written to Parquet, verified, dropped;
the archive reads back in DuckDB with the same rows; a replay of an archived event is
recognised; a month restores idempotently; a client keeping less loses only its rows;
replicas running retention together archive each row once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import duckdb

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.storage.activity_log import partitions
from activitylog.use_cases import retention
from activitylog.use_cases.store_batch import store_batch
from support import event

NOW = datetime(2022, 6, 15, tzinfo=UTC)
MONTHS = [date(2021, m, 1) for m in (1, 2, 3)]
CLIENTS = [uuid.UUID(int=i + 101) for i in range(3)]


def accepted(n: int) -> AcceptedEvent:
    body = event(
        n,
        leadAirtableId=f"recKeep{n % 9:04d}",
        clientId=str(CLIENTS[(n % 9) % 3]),
        timestamp=f"2021-{n % 3 + 1:02d}-{n % 27 + 1:02d}T12:00:00Z",
    )
    return AcceptedEvent.accept(parse_event(body), received_at=NOW, origin=f"r-{n}", raw="")


EVENTS = [accepted(n) for n in range(90)]


async def stored(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        for month in MONTHS:
            await partitions.add_month(conn, month)
        assert len((await store_batch(conn, EVENTS)).inserted) == 90
        await taken_in(conn)


async def taken_in(conn: asyncpg.Connection) -> None:
    """The followers past every row, as if they had taken them in (following them for real
    waits for every transaction on the server to end: a long one elsewhere, a benchmark's
    index build, holds them back). Retention defers a month a follower has yet to read."""
    await conn.execute(
        """
        INSERT INTO log_followers (name, tx, position)
        SELECT f, tx, position FROM unnest(ARRAY['counters', 'analytics']) AS f,
            (SELECT tx, position FROM lead_activity_log ORDER BY tx DESC, position DESC
             LIMIT 1) AS newest
        ON CONFLICT (name) DO UPDATE SET tx = EXCLUDED.tx, position = EXCLUDED.position
        """
    )


def duck_count(archive: Path, month: str, where: str = "true") -> int:
    files = archive / "lead_activity_log" / f"month={month}" / "*.parquet"
    # The README's one-liner, as an operator runs it.
    with duckdb.connect() as db:
        row = db.execute(f"SELECT count(*) FROM '{files}' WHERE {where}").fetchone()
    assert row is not None
    return int(row[0])


async def counters(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT coalesce(sum(n), 0) FROM event_counts"))


async def test_a_month_a_follower_has_not_read_waits(pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with pool.acquire() as conn:
        for month in MONTHS:
            await partitions.add_month(conn, month)
        await store_batch(conn, EVENTS)
        done = await retention.run(conn, now=NOW, keep_months=12, archive_url=tmp_path.as_uri())
    assert set(MONTHS) <= set(done.deferred)
    assert not set(MONTHS) & set(done.dropped)
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 90


async def test_an_expired_month_is_archived_then_dropped_and_reads_back_in_duckdb(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await stored(pool)
    url = tmp_path.as_uri()
    per_month = {
        m: await pool.fetchval(f'SELECT count(*) FROM "{partitions.partition_name(m)}"')
        for m in MONTHS
    }
    counted = await counters(pool)
    async with pool.acquire() as conn:
        done = await retention.run(conn, now=NOW, keep_months=12, archive_url=url)
    assert set(MONTHS) <= set(done.dropped)
    async with pool.acquire() as conn:
        assert not set(MONTHS) & set(await partitions.months(conn))
    for m in MONTHS:
        assert duck_count(tmp_path, f"{m:%Y-%m}") == per_month[m] == 30
    # The figures of archived months stay (the counters are tables of their own).
    assert await counters(pool) == counted
    # A replay into the dropped month is recognised as stored, and stored nowhere.
    async with pool.acquire() as conn:
        replay = await store_batch(conn, EVENTS[:10])
        again = await retention.run(conn, now=NOW, keep_months=12, archive_url=url)
    assert replay.inserted == set()
    assert replay.duplicates == {e.id for e in EVENTS[:10]}
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 0
    assert again.dropped == []
    assert again.archived == []
    assert len(list(tmp_path.rglob("*.parquet"))) == 3


async def test_an_archived_month_restores_idempotently_and_is_held(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await stored(pool)
    url = tmp_path.as_uri()
    before = await pool.fetch(
        'SELECT id, metadata, "timestamp", tx, position FROM lead_activity_log '
        "WHERE \"timestamp\" >= '2021-02-01Z' AND \"timestamp\" < '2021-03-01Z' ORDER BY id"
    )
    async with pool.acquire() as conn:
        await retention.run(conn, now=NOW, keep_months=12, archive_url=url)
        hold = timedelta(days=7)
        assert await retention.restore(conn, MONTHS[1], url, hold=hold, now=NOW) == 30
        # The planner knows the restored month at once (never analysed reads as -1).
        reltuples = "SELECT reltuples FROM pg_class WHERE relname = 'lead_activity_log_y2021m02'"
        assert await conn.fetchval(reltuples) == 30
        assert await retention.restore(conn, MONTHS[1], url, hold=hold, now=NOW) == 0
        after = await conn.fetch(
            'SELECT id, metadata, "timestamp", tx, position FROM lead_activity_log ORDER BY id'
        )
        assert after == before
        # Held: a run now leaves it; once the hold is over it goes again, archived once.
        held = await retention.run(conn, now=NOW, keep_months=12, archive_url=url)
        assert MONTHS[1] not in held.dropped
        await conn.execute("UPDATE activity_log_restores SET until = $1", NOW)
        later = await retention.run(conn, now=NOW, keep_months=12, archive_url=url)
    assert MONTHS[1] in later.dropped
    assert later.archived == []
    assert duck_count(tmp_path, "2021-02") == 30


async def test_a_client_keeping_less_loses_only_its_rows(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await stored(pool)
    url = tmp_path.as_uri()
    client = CLIENTS[0]
    async with pool.acquire() as conn:
        await retention.set_client(conn, client, 1)
        done = await retention.run(conn, now=NOW, keep_months=None, archive_url=url)
    assert done.dropped == []
    assert (
        await pool.fetchval("SELECT count(*) FROM lead_activity_log WHERE client_id = $1", client)
        == 0
    )
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 60
    assert duck_count(tmp_path, "*", f"client_id = '{client}'") == 30
    assert duck_count(tmp_path, "*") == 30


async def test_replicas_running_retention_together_archive_each_row_once(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await stored(pool)
    url = tmp_path.as_uri()

    async def one() -> retention.RetentionRun:
        async with pool.acquire() as conn:
            return await retention.run(conn, now=NOW, keep_months=12, archive_url=url)

    runs = await asyncio.gather(one(), one(), one())
    assert sum(set(MONTHS) <= set(r.dropped) for r in runs) == 1
    for m in MONTHS:
        assert duck_count(tmp_path, f"{m:%Y-%m}") == 30
