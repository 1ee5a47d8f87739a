"""A benchmark database built inside PostgreSQL: leads and events from generate_series.

Usage: python bench/loader.py --database NAME [--events 10000000] [--leads 100000]
                              [--clients 20] [--days 730] [--words api|ui]
                              [--arrived-within-hours H | --arrived-now] [--jobs 2]
                              [--no-migrate] [--no-derived] [--retry-rows 2000]

The same shapes as bench_support.load_log (the Python loader): one lead in ten a stub,
names and emails from FIRST and LAST, events of every type alike, messages from the bench's
word lists, metadata with a campaign of 40 and the lead's phone, 12 sources; each value is
drawn by hashing the event's number (hashint8extended), so a build is the same every time
and however it is split. Each month of the history gets its partition first (as
bench_support.load_log does); inserts run on `--jobs` connections without the secondary
indexes and without the foreign-key checks (every lead id is one the leads insert made),
every id is then claimed in the id registry (lead_activity_ids), the indexes are built
partition by partition on `--jobs` sessions, the tables vacuumed, and the counters and the
analytics rebuilt from the log side by side, as `activitylog counters rebuild` and
`analytics rebuild` do (50 M events in about 31 minutes here, docs/RUNBOOK.md §18.6).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from bench_support import (
    COMMON,
    FIRST,
    LAST,
    RARE,
    WORDS,
    claim_ids,
    month_partitions,
    secondary_indexes,
)

from activitylog.contract.taxonomy import CATEGORY_OF, EventType
from activitylog.domain.counters.rollups import ROLLUPS, Basis, Cutoffs, Grain, compaction_cutoffs
from activitylog.runtime.db import connect
from activitylog.storage import analytics_rebuild, event_counts, log_followers
from activitylog.storage.event_counts import _key_row
from activitylog.storage.log_followers import Follower
from activitylog_testing.databases import create_database, database_url

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


_CHUNK = 250_000


@dataclass(frozen=True, slots=True)
class Words:
    """A message: `fewest`..`most` words, each from `common` with probability `p_common`,
    else from `rare` (a natural-text fall-off: the first list is in most messages)."""

    common: Sequence[str]
    rare: Sequence[str]
    p_common: float
    fewest: int
    most: int


@dataclass(frozen=True, slots=True)
class Shape:
    """What to build: counts, history span, arrival and messages."""

    events: int
    leads: int
    clients: int
    days: float
    words: Words
    sources: int = 12
    campaigns: int = 40
    seed: int = 42
    # When rows arrived (created_at): a second after the event (None), all now (zero), or
    # spread over this span before now, oldest first (diverse traffic in every minute).
    arrived_within: timedelta | None = None
    arrived_now: bool = False


def _r(i: str, k: int) -> str:
    """A uniform number in [0, 1) drawn from the integer `i` with stream `k` (SQL)."""
    hashed = f"hashint8extended(({i})::bigint, $1::bigint * 1000 + {k})"
    return f"(({hashed} & 2147483647)::float8 / 2147483648.0)"


def _pick(array: str, length: int, i: str, k: int) -> str:
    return f"({array})[1 + floor({_r(i, k)} * {length})::int]"


def _leads_sql(shape: Shape) -> str:
    client = (
        f"lpad(to_hex(n % {shape.clients} + 1), 32, '0')::uuid" if shape.clients else "NULL::uuid"
    )
    first = _pick("$2::text[]", len(FIRST), "n", 1)
    last = _pick("$3::text[]", len(LAST), "n", 2)
    return f"""
    INSERT INTO leads (id, airtable_record_id, client_id, first_name, last_name, email, phone)
    SELECT md5('lead/' || $1 || '/' || n)::uuid, 'recBench' || lpad(n::text, 8, '0'), {client},
           CASE WHEN stub THEN '' ELSE f END, CASE WHEN stub THEN '' ELSE l END,
           CASE WHEN stub THEN NULL ELSE lower(f) || '.' || lower(l) || n || '@example.com' END,
           CASE WHEN stub THEN NULL ELSE '+1555' || lpad(n::text, 7, '0') END
    FROM (SELECT n, n % 10 = 9 AS stub, {first} AS f, {last} AS l
          FROM generate_series(0, $4::int - 1) AS n) AS g
    """


def _events_sql(shape: Shape) -> str:
    """One chunk [$2, $3) of events; $4 types, $5 categories, $6 descriptions, $7 common
    words, $8 rare words, $9 the history's start, $10 now."""
    w = shape.words
    n = shape.events
    span = shape.days * 86_400
    client = (
        f"lpad(to_hex(lead_n % {shape.clients} + 1), 32, '0')::uuid"
        if shape.clients
        else "NULL::uuid"
    )
    word = (
        f"CASE WHEN {_r('i * 32 + j', 11)} < {w.p_common} "
        f"THEN {_pick('$7::text[]', len(w.common), 'i * 32 + j', 12)} "
        f"ELSE {_pick('$8::text[]', len(w.rare), 'i * 32 + j', 13)} END"
    )
    count = f"{w.fewest} + floor({_r('i', 10)} * {w.most - w.fewest + 1})::int"
    if shape.arrived_now:
        arrived = "$10::timestamptz"
    elif shape.arrived_within is not None:
        within = shape.arrived_within.total_seconds()
        arrived = f"$10::timestamptz - make_interval(secs => {within} * (1 - i::float8 / {n}))"
    else:
        arrived = "ts + interval '1 second'"
    return f"""
    INSERT INTO lead_activity_log (id, event_type, event_category, lead_id, lead_airtable_id,
        client_id, description, message_content, metadata, source, execution_id, "timestamp",
        created_at)
    SELECT md5('event/' || $1 || '/' || i)::uuid, ($4::text[])[t], ($5::text[])[t],
           md5('lead/' || $1 || '/' || lead_n)::uuid, 'recBench' || lpad(lead_n::text, 8, '0'),
           {client}, ($6::text[])[t] || ' #' || i,
           (SELECT string_agg({word}, ' ') FROM generate_series(1, {count}) AS j),
           jsonb_build_object('campaign_id', 'camp' || i % {shape.campaigns},
                              'phone', '+1555' || lpad(lead_n::text, 7, '0')),
           'n8n:wf-' || i % {shape.sources}, 'exec-' || i, ts, {arrived}
    FROM (SELECT i, floor({_r("i", 1)} * {shape.leads})::int AS lead_n,
                 1 + floor({_r("i", 2)} * array_length($4::text[], 1))::int AS t,
                 $9::timestamptz + make_interval(secs => {span} * (i + {_r("i", 3)}) / {n}) AS ts
          FROM generate_series($2::bigint, $3::bigint - 1) AS i
          WHERE $10::timestamptz IS NOT NULL) AS g
    """


# How much longer a partition's text index (GIN) takes to build than one of its b-trees,
# from the 10 M build's figures (213 s against 5-16 s each): only the order of the jobs.
_GIN_WEIGHT = 20
_INDEX_DEF = re.compile(r"^CREATE INDEX (\S+) ON (\S+) (USING .*)$")


async def _index_jobs(
    conn: asyncpg.Connection, table: str, indexes: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Each index of a partitioned `table` as one build per partition, largest first, then
    the parent's own statement (which attaches those builds instead of building again): the
    sessions share the text index's months, which one session took alone before (the GIN
    build was the whole index phase: 213 s of 10 M events' 213)."""
    parts = await conn.fetch(
        """
        SELECT c.oid::regclass::text AS name, pg_relation_size(c.oid) AS size
        FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = $1::regclass
        """,
        table,
    )
    if not parts:
        return indexes
    jobs: list[tuple[float, str, str]] = []
    for name, definition in indexes:
        found = _INDEX_DEF.match(definition)
        if found is None:
            raise ValueError(f"unexpected index definition: {definition}")
        weight = _GIN_WEIGHT if "USING gin" in definition else 1
        for part in parts:
            jobs.append(
                (
                    weight * part["size"],
                    f"{name} on {part['name']}",
                    f"CREATE INDEX ON {part['name']} {found.group(3)}",
                )
            )
    jobs.sort(key=lambda job: job[0], reverse=True)
    return [(label, sql) for _, label, sql in jobs]


async def _run_jobs(url: str, jobs: list[tuple[str, str]], sessions: int, *, quiet: bool) -> None:
    """The statements on `sessions` connections, each taking the next when done."""
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def session() -> None:
        own = await connect(url)
        try:
            await own.execute("SET maintenance_work_mem = '1GB'")
            while not queue.empty():
                label, sql = queue.get_nowait()
                began = time.perf_counter()
                await own.execute(sql)
                if not quiet:
                    print(f"    index {label} in {time.perf_counter() - began:.0f} s", flush=True)
        finally:
            await own.close()

    await asyncio.gather(*(session() for _ in range(sessions)))


@contextlib.asynccontextmanager
async def _indexes_dropped(
    conn: asyncpg.Connection, url: str, table: str, jobs: int
) -> AsyncIterator[None]:
    """As bench_support.secondary_indexes_dropped, the rebuild spread over `jobs` sessions,
    largest first (a partitioned table's partition by partition), with room to sort in
    memory."""
    indexes = await secondary_indexes(conn, table)
    for name, _ in indexes:
        await conn.execute(f'DROP INDEX "{name}"')
    yield
    started = time.perf_counter()
    per_partition = await _index_jobs(conn, table, indexes)
    await _run_jobs(url, per_partition, jobs, quiet=per_partition is not indexes)
    if per_partition is not indexes:
        await _run_jobs(url, indexes, 1, quiet=False)  # attaches what the partitions have
    print(f"  {len(indexes)} indexes built in {time.perf_counter() - started:.0f} s", flush=True)


async def load(
    url: str, shape: Shape, *, jobs: int = 2, derived: bool = True, counters: str = "direct"
) -> float:
    """Build `shape` into the migrated, empty database at `url`; returns events/s of the
    whole build (inserts, indexes, vacuum; the derived tables apart)."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    start = now - timedelta(days=shape.days)
    types = list(EventType)
    conn = await connect(url)
    try:
        await conn.execute(_leads_sql(shape), shape.seed, FIRST, LAST, shape.leads)
        await conn.execute("ANALYZE leads")
        print(f"  {shape.leads:,} leads in {time.perf_counter() - started:.1f} s", flush=True)
        args = (
            [t.value for t in types],
            [CATEGORY_OF[t].value for t in types],
            [t.value.replace("_", " ").title() for t in types],
            list(shape.words.common),
            list(shape.words.rare),
            start,
            now,
        )
        sql = _events_sql(shape)
        # Every month of the history its own partition (none in the default one).
        await month_partitions(conn, start, now)
        chunks = asyncio.Queue[int]()
        for lo in range(0, shape.events, _CHUNK):
            chunks.put_nowait(lo)
        done = 0
        inserting = time.perf_counter()

        async def inserter() -> None:
            nonlocal done
            own = await connect(url)
            try:
                # Every lead id is one the leads insert made: no per-row foreign-key check.
                await own.execute("SET session_replication_role = replica")
                await own.execute("SET synchronous_commit = off")
                while not chunks.empty():
                    lo = chunks.get_nowait()
                    hi = min(lo + _CHUNK, shape.events)
                    await own.execute(sql, shape.seed, lo, hi, *args)
                    done += hi - lo
                    rate = done / (time.perf_counter() - inserting)
                    print(f"  inserted {done:,} events ({rate:,.0f}/s)", flush=True)
            finally:
                await own.close()

        async with _indexes_dropped(conn, url, "lead_activity_log", jobs):
            await asyncio.gather(*(inserter() for _ in range(jobs)))
            took = time.perf_counter() - inserting
            print(f"  inserts took {took:.0f} s ({shape.events / took:,.0f} events/s)")
            began = time.perf_counter()
            await claim_ids(conn)
            print(f"  id registry in {time.perf_counter() - began:.0f} s", flush=True)
        began = time.perf_counter()
        # As the write path keeps it: each lead's newest event time.
        await conn.execute(
            """
            UPDATE leads AS l SET last_activity_at = m.ts
            FROM (SELECT lead_id, max("timestamp") AS ts FROM lead_activity_log
                  GROUP BY lead_id) AS m
            WHERE m.lead_id = l.id
            """
        )
        await conn.execute("VACUUM ANALYZE leads")
        await conn.execute("VACUUM ANALYZE lead_activity_log")
        print(f"  last activity, vacuum in {time.perf_counter() - began:.0f} s", flush=True)
        total = time.perf_counter() - started
        rate = shape.events / total
        print(f"  built in {total:.0f} s: {rate:,.0f} events/s", flush=True)
        if derived:
            await rebuild_derived(conn, url, counters)
        return rate
    finally:
        await conn.close()


async def fill_counters(conn: asyncpg.Connection, cutoffs: Cutoffs) -> None:
    """What `event_counts.rebuild` leaves, written at once: every rollup counted in one pass
    over the log, straight into the grain its compaction keeps (days before the cutoff,
    hours after; arrival minutes only after theirs), instead of writing an hour row per
    bucket and rolling millions of them into days (10 times slower at 1 M events over 24
    months). `--counters rebuild` runs the app's own."""
    keys = []
    for rollup in ROLLUPS:
        if rollup.grain is Grain.MINUTE:
            kind, cut = "m", "$2"
        else:
            kind, cut = ("a", "$4") if rollup.basis is Basis.ARRIVAL else ("e", "$3")
        keys.append(f"{_key_row(rollup, 'a')[:-1]}, '{kind}', {cut}::timestamptz)")
    rolled = "k.kind <> 'm' AND k.bucket < k.cut"
    async with conn.transaction():
        await log_followers.wait_turn(conn, Follower.COUNTERS)
        await conn.execute("LOCK TABLE lead_activity_log IN SHARE MODE")
        await conn.execute("TRUNCATE event_counts")
        horizon = await log_followers.reset_to_horizon(conn, Follower.COUNTERS)
        await conn.execute(
            f"""
            INSERT INTO event_counts (basis, grain, bucket, category, event_type, source,
                                      client_id, n)
            SELECT k.basis, CASE WHEN {rolled} THEN 'day' ELSE k.grain END,
                   CASE WHEN {rolled} THEN date_trunc('day', k.bucket, 'UTC') ELSE k.bucket END,
                   k.category, k.event_type, k.source, k.client_id, count(*)
            FROM lead_activity_log AS a CROSS JOIN LATERAL (VALUES {", ".join(keys)})
                AS k(basis, grain, bucket, category, event_type, source, client_id, kind, cut)
            WHERE (a.tx IS NULL OR a.tx < $1::text::xid8) AND (k.kind <> 'm' OR k.bucket >= k.cut)
            GROUP BY 1, 2, 3, 4, 5, 6, 7
            ORDER BY 1, 2, 3, 4, 5, 6, 7
            """,
            str(horizon),
            cutoffs.minutes_before,
            cutoffs.hours_before,
            cutoffs.arrival_hours_before,
        )


async def rebuild_derived(conn: asyncpg.Connection, url: str, counters: str = "direct") -> None:
    """The counters and the analytics recounted from the log, as the CLI's rebuilds do: side
    by side, on two sessions (each is one statement's scan of the log, on one core)."""

    async def count() -> None:
        began = time.perf_counter()
        await conn.execute("SET work_mem = '256MB'")
        cutoffs = compaction_cutoffs(datetime.now(UTC))
        if counters == "direct":
            async with _indexes_dropped(conn, url, "event_counts", 1):
                await fill_counters(conn, cutoffs)
            await event_counts.compact(conn, cutoffs)  # old days into months, as the app does
        else:
            await event_counts.rebuild(conn, cutoffs)
        await conn.execute("VACUUM ANALYZE event_counts")
        print(f"  counters ({counters}) in {time.perf_counter() - began:.0f} s", flush=True)

    async def analyse() -> None:
        began = time.perf_counter()
        own = await connect(url)
        try:
            await own.execute("SET work_mem = '256MB'")
            await analytics_rebuild.rebuild(own)
            await own.execute("VACUUM ANALYZE lead_campaign_facts")
            await own.execute("VACUUM ANALYZE analytics_counts")
        finally:
            await own.close()
        print(f"  analytics rebuilt in {time.perf_counter() - began:.0f} s", flush=True)

    began = time.perf_counter()
    await asyncio.gather(count(), analyse())
    print(f"  counters and analytics in {time.perf_counter() - began:.0f} s", flush=True)


async def add_retry_rows(url: str, rows: int) -> None:
    """retry_queue rows in every status, for the retry page (as bench/ui.py loads them)."""
    conn = await connect(url)
    try:
        await conn.execute(
            """
            INSERT INTO retry_queue (queue_id, lead_id, payload, status, last_error, retry_count)
            SELECT 'bench-' || g, 'recBench' || lpad(g::text, 8, '0'), '{"eventType": "X"}',
                   (ARRAY['pending', 'dead', 'resolved', 'discarded'])[1 + g % 4],
                   'bench error ' || g, g % 10
            FROM generate_series(1, $1::int) AS g
            ON CONFLICT (queue_id) DO NOTHING
            """,
            rows,
        )
        await conn.execute("VACUUM ANALYZE retry_queue")
    finally:
        await conn.close()


def words_of(kind: str) -> Words:
    """bench/api.py's messages (common and rare words) or bench/ui.py's (10 of WORDS)."""
    if kind == "ui":
        return Words(WORDS, WORDS, 1.0, 10, 10)
    return Words(COMMON, RARE, 0.5, 6, 14)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--days", type=float, default=730)
    parser.add_argument("--sources", type=int, default=12)
    parser.add_argument("--words", choices=("api", "ui"), default="api")
    parser.add_argument("--arrived-within-hours", type=float)
    parser.add_argument("--arrived-now", action="store_true")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--retry-rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--no-migrate", action="store_true", help="the database exists, migrated by another tree"
    )
    parser.add_argument(
        "--counters",
        choices=("direct", "rebuild"),
        default="direct",
        help="direct: counted straight into their compacted grains; rebuild: the app's rebuild",
    )
    parser.add_argument("--no-derived", action="store_true", help="skip the counters/analytics")
    args = parser.parse_args()
    if args.no_migrate:
        url = database_url(PG, args.database)
    else:
        await create_database(PG, args.database, reuse=True)
        url = database_url(PG, args.database)
    shape = Shape(
        events=args.events,
        leads=args.leads,
        clients=args.clients,
        days=args.days,
        words=words_of(args.words),
        sources=args.sources,
        seed=args.seed,
        arrived_within=(
            timedelta(hours=args.arrived_within_hours) if args.arrived_within_hours else None
        ),
        arrived_now=args.arrived_now,
    )
    conn = await asyncpg.connect(url)
    try:
        have = await conn.fetchval("SELECT count(*) FROM lead_activity_log")
    finally:
        await conn.close()
    if have:
        raise SystemExit(f"{args.database} already holds {have:,} events")
    print(
        f"building {args.events:,} events, {args.leads:,} leads, {args.clients} clients, "
        f"{args.days:g} days into {args.database}; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    await load(url, shape, jobs=args.jobs, derived=not args.no_derived, counters=args.counters)
    await add_retry_rows(url, args.retry_rows)


if __name__ == "__main__":
    asyncio.run(main())
