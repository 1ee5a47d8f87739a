"""Ingest benchmark: end-to-end events/s vs the COPY ceiling and a naive one-row-per-message floor.

Usage: python bench/ingest.py [--events 200000] [--workers 2] [--naive-events 20000]
Needs PostgreSQL and Redis (BENCH_DATABASE_URL / BENCH_REDIS_URL, else 127.0.0.1); creates
and drops its own database and stream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import orjson
import redis.asyncio as aioredis
from bench_support import WORDS

from activitylog.contract.events import parse_event_json
from activitylog.contract.identity import AcceptedEvent
from activitylog.contract.stream_format import entry_time
from activitylog.domain.followers import lag_seconds
from activitylog.runtime import db
from activitylog.storage import log_followers
from activitylog.storage.activity_log import writes as activity_writes
from activitylog.storage.log_followers import Follower
from activitylog.storage.stream import publish, stream_stats
from activitylog.use_cases.store_batch import store_batch
from activitylog_testing.databases import with_database

REPO = Path(__file__).resolve().parent.parent
# The workers, as `activitylog ingest` and `activitylog retry` run them.
SERVICE = Path(__file__).resolve().parent / "service_process.py"

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def make_events(n: int, leads: int) -> list[bytes]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    types = ["MESSAGE_SENT", "MESSAGE_DELIVERED", "INBOUND_REPLY", "CAMPAIGN_ENROLLED"]
    out = []
    for i in range(n):
        words = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(8))
        out.append(
            orjson.dumps(
                {
                    "eventType": types[i % len(types)],
                    "leadAirtableId": f"recBench{i % leads:08d}",
                    "description": f"Event {i} for lead {i % leads}",
                    "messageContent": words,
                    "metadata": {"campaign_id": f"camp{i % 20}", "phone": f"+1555{i:07d}"},
                    "source": "n8n:bench",
                    "executionId": f"bench-{i}",
                    "timestamp": (base + timedelta(seconds=i)).isoformat(),
                }
            )
        )
    return out


async def count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM lead_activity_log"))


async def copy_ceiling(url: str, payloads: list[bytes]) -> float:
    """Resolve the same rows as the pipeline would, then COPY them: the fastest bulk path."""
    conn = await db.connect(url)
    try:
        # Stub leads first (not timed), so COPY gets the same lead ids the pipeline uses.
        now = datetime.now(UTC)
        accepted = [
            AcceptedEvent.accept(parse_event_json(p), received_at=now, origin="b", raw="")
            for p in payloads
        ]
        for i in range(0, len(accepted), 5000):
            await store_batch(conn, accepted[i : i + 5000])
        rows = await conn.fetch(
            """SELECT id, event_type, event_category, lead_id, lead_airtable_id, client_id,
                      description, message_content, metadata, source,
                      execution_id, created_by, "timestamp" FROM lead_activity_log"""
        )
        records = [tuple(r) for r in rows]
        await conn.execute("TRUNCATE lead_activity_log, lead_activity_ids")
        await conn.execute("VACUUM ANALYZE lead_activity_log")
        columns = list(activity_writes.COLUMNS)
        started = time.perf_counter()
        for i in range(0, len(records), 10_000):
            await conn.copy_records_to_table(
                "lead_activity_log", records=records[i : i + 10_000], columns=columns
            )
        elapsed = time.perf_counter() - started
        await conn.execute("TRUNCATE lead_activity_log, lead_activity_ids")
        return len(records) / elapsed
    finally:
        await conn.close()


async def naive_floor(url: str, payloads: list[bytes], *, same_work: bool = False) -> float:
    """One XREADGROUP, one INSERT and one XACK per message: what a simple consumer does.

    By default the INSERT alone, with leads looked up in memory (the strict floor); with
    `same_work`, each message goes through the pipeline's own store (stub lead, insert,
    last_activity_at) in a transaction of its own: the same job, one row at a time.
    """
    stream = f"bench:{uuid.uuid4().hex[:8]}:naive"
    r = aioredis.Redis.from_url(REDIS)
    conn = await db.connect(url)
    try:
        await publish(r, stream, payloads)
        await r.xgroup_create(stream, "naive", id="0")
        leads = dict(await conn.fetch("SELECT airtable_record_id, id FROM leads"))
        started = time.perf_counter()
        done = 0
        while done < len(payloads):
            reply = await r.xreadgroup("naive", "c1", {stream: ">"}, count=1)
            entry_id, fields = reply[0][1][0]
            event = parse_event_json(fields[b"payload"])
            accepted = AcceptedEvent.accept(
                event, received_at=entry_time(entry_id.decode()), origin="n", raw=""
            )
            if same_work:
                await store_batch(conn, [accepted])
                await r.xack(stream, "naive", entry_id)
                done += 1
                continue
            await conn.execute(
                """INSERT INTO lead_activity_log (id, event_type, event_category, lead_id,
                       lead_airtable_id, description, message_content, metadata, source,
                       execution_id, "timestamp")
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                   ON CONFLICT (id) DO NOTHING""",
                accepted.id,
                event.event_type.value,
                event.category.value,
                leads[event.lead_airtable_id],
                event.lead_airtable_id,
                event.description,
                event.message_content,
                event.metadata,
                event.source,
                event.execution_id,
                accepted.timestamp,
            )
            await r.xack(stream, "naive", entry_id)
            done += 1
        elapsed = time.perf_counter() - started
        await conn.execute("TRUNCATE lead_activity_log, lead_activity_ids")
        return done / elapsed
    finally:
        await r.delete(stream)
        await r.aclose()
        await conn.close()


def resp_xadds(stream: str, payloads: list[bytes]) -> bytes:
    """XADD commands in the Redis protocol, for `redis-cli --pipe`."""
    key = stream.encode()
    parts = []
    for payload in payloads:
        parts.append(
            b"*5\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$1\r\n*\r\n$7\r\npayload\r\n$%d\r\n%s\r\n"
            % (len(key), key, len(payload), payload)
        )
    return b"".join(parts)


async def publish_from_another_process(
    stream: str, payloads: list[bytes], r: aioredis.Redis
) -> None:
    """Producers are other programs: `redis-cli --pipe` (C) publishes without taking the
    workers' CPU the way a Python publisher in this process would; redis-py if it is missing."""
    if shutil.which("redis-cli") is None:
        for i in range(0, len(payloads), 5000):
            await publish(r, stream, payloads[i : i + 5000])
        return
    parts = urlsplit(REDIS)
    proc = await asyncio.create_subprocess_exec(
        "redis-cli",
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 6379),
        "-n",
        (parts.path or "/0").lstrip("/") or "0",
        "--pipe",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    await proc.communicate(resp_xadds(stream, payloads))
    if proc.returncode != 0:
        raise RuntimeError("redis-cli --pipe failed")


async def watch_followers(url: str, stop: asyncio.Event, lags: dict[str, list[float]]) -> None:
    """Every 0.25 s, how far the counters and the analytics trail the log (seconds)."""
    conn = await asyncpg.connect(url)
    try:
        while not stop.is_set():
            now = datetime.now(UTC)
            for follower in Follower:
                since = await log_followers.untaken_since(conn, follower)
                lags.setdefault(follower.value, []).append(lag_seconds(since, now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)
    finally:
        await conn.close()


async def followers_caught_up(url: str) -> float:
    """Seconds until both followers have taken in every stored row."""
    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        last = await log_followers.newest_place(conn)
        while last is not None:
            cursors = await log_followers.cursors(conn)
            if all(place >= last for place in cursors.values()):
                break
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    return time.perf_counter() - started


async def end_to_end(
    url: str,
    payloads: list[bytes],
    workers: int,
    batch: int,
    *,
    stages: str = "",
    followers: bool = True,
) -> float:
    """Real `activitylog ingest` processes; time from first XADD to the last commit.

    With `followers`, one `activitylog retry` service runs beside them, keeping the counters
    and the analytics (they follow the log); the time they need after the last commit to
    take everything in, and how far they trailed meanwhile, are printed. With `stages` (a
    path prefix), each worker writes its per-stage seconds there on exit
    (activitylog.runtime.stages)."""
    stream = f"bench:{uuid.uuid4().hex[:8]}:events"
    env = (
        os.environ
        | ({"ACTIVITYLOG_STAGE_PROFILE": stages} if stages else {})
        | {
            "DATABASE_URL": url,
            "REDIS_URL": REDIS,
            "ACTIVITY_STREAM": stream,
            "INGEST_GROUP": "ingest",
            "INGEST_BATCH_SIZE": str(batch),
            "LOG_LEVEL": "WARNING",
            "INGEST_BLOCK_MS": "100",
        }
    )
    procs = [
        subprocess.Popen(
            [sys.executable, str(SERVICE), "ingest"],
            env=env | {"INGEST_CONSUMER": f"bench-{i}"},
            cwd=REPO,
        )
        for i in range(workers)
    ]
    if followers:
        procs.append(
            subprocess.Popen(
                [sys.executable, str(SERVICE), "retry"],
                env=env | {"INGEST_CONSUMER": "bench-retry"},
                cwd=REPO,
            )
        )
    lags: dict[str, list[float]] = {}
    stop_watching = asyncio.Event()
    r = aioredis.Redis.from_url(REDIS)
    conn = await asyncpg.connect(url)
    try:
        # Let the workers create the group and block on an empty stream first.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if await r.exists(stream) and await r.xinfo_groups(stream):
                break
            await asyncio.sleep(0.05)
        watching = asyncio.create_task(watch_followers(url, stop_watching, lags))
        started = time.perf_counter()
        await publish_from_another_process(stream, payloads, r)
        published = time.perf_counter() - started
        # Workers acknowledge only after commit, so a drained group means all committed.
        # Polling Redis, not count(*), keeps the watcher from eating the workers' CPU.
        while True:
            stats = await stream_stats(r, stream, "ingest")
            # Everything is published by now; acknowledged entries may already be trimmed,
            # so the stream's length is no measure of progress.
            if stats.lag == 0 and stats.pending == 0:
                break
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        stored = await count(conn)
        if stored != len(payloads):
            raise RuntimeError(f"stream drained but {stored:,} of {len(payloads):,} rows stored")
        print(f"  (publishing, by redis-cli --pipe, took {published:.2f}s of {elapsed:.2f}s)")
        if followers:
            behind = await followers_caught_up(url)
            stop_watching.set()
            await watching
            figures = "; ".join(
                f"{name} p50 {statistics.median(v):.2f} s, max {max(v):.2f} s"
                for name, v in sorted(lags.items())
            )
            print(f"  followers caught up {behind:.2f}s after the last commit; lag: {figures}")
        return len(payloads) / elapsed
    finally:
        stop_watching.set()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
        await r.delete(stream)
        await r.aclose()
        await conn.close()


def stage_breakdown(prefix: str, events: int) -> None:
    """Per-stage totals the workers wrote (summed over workers and rounds), per event."""
    totals: dict[str, list[float]] = {}
    for path in Path(prefix).parent.glob(Path(prefix).name + ".*.json"):
        for name, figures in json.loads(path.read_text()).items():
            seconds, calls = totals.setdefault(name, [0.0, 0.0])
            totals[name] = [seconds + figures["seconds"], calls + figures["calls"]]
        path.unlink()
    if not totals:
        return
    whole = totals.get("store (whole)", [0.0, 0.0])[0]
    print(f"per-stage wall time in the workers ({events:,} events stored; all workers):")
    for name, (seconds, calls) in sorted(totals.items(), key=lambda kv: -kv[1][0]):
        share = (
            f"{100 * seconds / whole:5.1f} % of store"
            if whole
            and name not in ("store (whole)", "stream read", "decode and validation", "XACK")
            else " " * 16
        )
        print(
            f"  {name:<30} {seconds:8.2f} s  {1e6 * seconds / events:7.1f} us/event  "
            f"{1000 * seconds / max(calls, 1):7.2f} ms/call  {share}"
        )


async def statements_report(url: str, top: int = 15) -> None:
    """The statements the workers ran, by total time, when the server keeps
    pg_stat_statements (it must be in shared_preload_libraries)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """
            SELECT calls, total_exec_time AS ms, rows,
                   regexp_replace(left(query, 90), '\\s+', ' ', 'g') AS query
            FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            ORDER BY total_exec_time DESC LIMIT $1
            """,
            top,
        )
    finally:
        await conn.close()
    print("pg_stat_statements, by total execution time (server side):")
    for r in rows:
        print(f"  {r['ms']:9.0f} ms {r['calls']:7d} calls {r['rows']:9d} rows  {r['query']}")


async def reset_statements(url: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        preload = await conn.fetchval("SHOW shared_preload_libraries")
        if "pg_stat_statements" not in preload:
            print(
                "pg_stat_statements is not in shared_preload_libraries "
                f"({preload or 'empty'}): no server-side breakdown"
            )
            return False
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
        return True
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--naive-events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--drop-index",
        action="append",
        default=[],
        metavar="NAME",
        help="measure without this index (run with and without it: the index's write cost)",
    )
    parser.add_argument(
        "--end-to-end-only",
        action="store_true",
        help="skip the COPY ceiling and the naive floors (comparing two schemas' ingest)",
    )
    parser.add_argument(
        "--compare-followers",
        action="store_true",
        help="each round, end-to-end without then with the retry service's followers running",
    )
    parser.add_argument(
        "--no-followers",
        action="store_true",
        help="run no retry service beside the workers (the counters and analytics then wait)",
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="per-stage timings of the workers (and pg_stat_statements where the server has it)",
    )
    args = parser.parse_args()
    stages = str(Path(tempfile.mkdtemp(prefix="ingest-stages-")) / "stages") if args.stages else ""

    async with with_database(PG, f"activitylog_bench_{uuid.uuid4().hex[:8]}") as url:
        if args.drop_index:
            conn = await asyncpg.connect(url)
            try:
                for name in args.drop_index:
                    await conn.execute(f'DROP INDEX "{name}"')
            finally:
                await conn.close()
            print(f"without the indexes {', '.join(args.drop_index)}")
        payloads = make_events(args.events, args.leads)
        print(f"{args.events:,} events over {args.leads:,} leads; {os.cpu_count()} CPUs")
        # This machine's speed drifts between runs, so the three are measured in turn,
        # `--rounds` times, and the ratios come from the medians.
        ceilings, floors, same_floors, e2es, plains = [], [], [], [], []
        naive = payloads[: args.naive_events]
        for n in range(1, args.rounds + 1):
            if args.end_to_end_only:
                # As the full rounds leave it: events gone, leads kept (or every round after
                # the first would find only duplicates).
                conn = await asyncpg.connect(url)
                try:
                    await conn.execute(
                        "TRUNCATE lead_activity_log, lead_activity_ids, analytics_queue"
                    )
                finally:
                    await conn.close()
                e2es.append(
                    await end_to_end(
                        url,
                        payloads,
                        args.workers,
                        args.batch_size,
                        stages=stages,
                        followers=not args.no_followers,
                    )
                )
                print(f"round {n}: end-to-end {e2es[-1]:,.0f} events/s", flush=True)
                continue
            ceilings.append(await copy_ceiling(url, payloads))
            floors.append(await naive_floor(url, naive))
            same_floors.append(await naive_floor(url, naive, same_work=True))
            if args.compare_followers:
                plain = await end_to_end(
                    url, payloads, args.workers, args.batch_size, followers=False
                )
                conn = await asyncpg.connect(url)
                try:
                    await conn.execute(
                        "TRUNCATE lead_activity_log, lead_activity_ids, analytics_queue"
                    )
                finally:
                    await conn.close()
                plains.append(plain)
                print(
                    f"round {n}: end-to-end without followers running {plain:,.0f} events/s "
                    f"({plain / ceilings[-1]:.2f} x COPY)",
                    flush=True,
                )
            statements = args.stages and await reset_statements(url)
            e2es.append(
                await end_to_end(
                    url,
                    payloads,
                    args.workers,
                    args.batch_size,
                    stages=stages,
                    followers=not args.no_followers,
                )
            )
            if statements:
                await statements_report(url)
            print(
                f"round {n}: COPY {ceilings[-1]:,.0f}  naive insert {floors[-1]:,.0f}  "
                f"naive same work {same_floors[-1]:,.0f}  end-to-end {e2es[-1]:,.0f} events/s"
            )
        if stages:
            stage_breakdown(stages, args.events * args.rounds)
        if args.end_to_end_only:
            median = statistics.median(e2es)
            print(f"end-to-end ({args.workers} ingest workers): {median:,.0f} events/s (median)")
            return
        ceiling, floor, same_floor, e2e = (
            statistics.median(v) for v in (ceilings, floors, same_floors, e2es)
        )
        print(f"COPY ceiling (copy_records_to_table):     {ceiling:>10,.0f} events/s (medians)")
        print(f"naive floor, INSERT per message:          {floor:>10,.0f} events/s")
        print(f"naive floor, same work per message:       {same_floor:>10,.0f} events/s")
        print(f"end-to-end ({args.workers} ingest workers):          {e2e:>10,.0f} events/s")
        if plains:
            plain = statistics.median(plains)
            print(f"end-to-end, no followers running:         {plain:>10,.0f} events/s")
            print(f"  ... / COPY ceiling                 = {plain / ceiling:.2f}")
            ratios = [p / c for p, c in zip(plains, ceilings, strict=True)]
            print(f"  ... median of the rounds' ratios   = {statistics.median(ratios):.2f}")
        ratios = [e / c for e, c in zip(e2es, ceilings, strict=True)]
        print(f"end-to-end / COPY ceiling          = {e2e / ceiling:.2f}  (target >= 0.8)")
        print(f"  median of the rounds' ratios     = {statistics.median(ratios):.2f}")
        print(f"end-to-end / naive INSERT floor    = {e2e / floor:.1f}  (target >= 10)")
        print(f"end-to-end / naive same-work floor = {e2e / same_floor:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
