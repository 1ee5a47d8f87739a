"""Ingest benchmark: end-to-end events/s vs the COPY ceiling and a naive one-row-per-message floor.

Usage: python bench/ingest.py [--events 200000] [--workers 2] [--naive-events 20000]
       python bench/ingest.py --shards 4 [--cluster]: end-to-end on one stream key, on N
       shards of the same Redis and (--cluster) on N shards of a local Redis Cluster of 3
       masters and 3 replicas it starts itself, in turn, each round.
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
import psutil
import redis.asyncio as aioredis
from bench_support import WORDS

from activitylog.contract.events import parse_event_json
from activitylog.contract.identity import AcceptedEvent
from activitylog.contract.shards import shard_keys, shard_of_payload
from activitylog.contract.stream_format import entry_time
from activitylog.domain.followers import lag_seconds
from activitylog.runtime import db
from activitylog.storage import log_followers
from activitylog.storage.activity_log import writes as activity_writes
from activitylog.storage.log_followers import Follower
from activitylog.storage.stream import publish, redis_client, sharded_stats
from activitylog.use_cases.store_batch import store_batch
from activitylog_testing.databases import with_database
from activitylog_testing.redis_cluster import LocalRedisCluster, local_redis_cluster

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
        r = aioredis.Redis.from_url(REDIS)
        try:
            meter = await local_server_pids(conn, r)
        finally:
            await r.aclose()
        cpu_before = meter.snapshot({"this process": [os.getpid()]})
        started = time.perf_counter()
        for i in range(0, len(records), 10_000):
            await conn.copy_records_to_table(
                "lead_activity_log", records=records[i : i + 10_000], columns=columns
            )
        elapsed = time.perf_counter() - started
        cpu_after = meter.snapshot({"this process": [os.getpid()]})
        print(
            "  COPY ceiling CPU per event (us): "
            + ", ".join(
                f"{k} {1e6 * (cpu_after[k] - cpu_before[k]) / len(records):.1f}"
                for k in ("PostgreSQL", "this process")
                if k in cpu_after
            )
        )
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
            # Idempotent on the id as the log is (its registry, migration 0019).
            await conn.execute(
                """WITH claimed AS (
                       INSERT INTO lead_activity_ids (id, "timestamp") VALUES ($1, $11)
                       ON CONFLICT DO NOTHING RETURNING id)
                   INSERT INTO lead_activity_log (id, event_type, event_category, lead_id,
                       lead_airtable_id, description, message_content, metadata, source,
                       execution_id, "timestamp")
                   SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM claimed""",
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
    stream: str, payloads: list[bytes], r: aioredis.Redis, *, url: str = REDIS
) -> None:
    """Producers are other programs: `redis-cli --pipe` (C) publishes without taking the
    workers' CPU the way a Python publisher in this process would; redis-py if it is missing."""
    if shutil.which("redis-cli") is None:
        for i in range(0, len(payloads), 5000):
            await publish(r, stream, payloads[i : i + 5000])
        return
    parts = urlsplit(url)
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


async def publish_sharded(
    keys: list[str],
    payloads: list[bytes],
    r: aioredis.Redis,
    cluster: LocalRedisCluster | None,
) -> None:
    """Each payload to its lead's shard (contract.shards), one `redis-cli --pipe` a shard, at
    once; on a cluster each to the master that holds its shard's slot."""
    by_shard: dict[int, list[bytes]] = {}
    for payload in payloads:
        by_shard.setdefault(shard_of_payload(orjson.loads(payload), len(keys)), []).append(payload)
    await asyncio.gather(
        *(
            publish_from_another_process(
                keys[shard],
                shard_payloads,
                r,
                url=f"redis://127.0.0.1:{cluster.master_of(keys[shard])}/0" if cluster else REDIS,
            )
            for shard, shard_payloads in by_shard.items()
        )
    )


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


class CpuMeter:
    """CPU seconds the run's processes spend: the workers (and the retry service), the
    PostgreSQL server's processes and Redis's, when both servers run on this machine.

    CPU time, unlike wall time, does not grow when other work shares the cores, so it is the
    figure to compare between runs on a busy machine (wall time and ratios still need a quiet
    one). A server on another machine is left out and shown as "n/a".
    """

    def __init__(self, pg_postmaster: int | None, redis_pid: int | None) -> None:
        self.servers = {"PostgreSQL": pg_postmaster, "Redis": redis_pid}

    @staticmethod
    def _tree_seconds(pid: int) -> float:
        # A server's exited children (PostgreSQL's backends) count into its cutime/cstime.
        root = psutil.Process(pid)
        total = sum(root.cpu_times()[:4])
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += sum(child.cpu_times()[:2])
        return total

    def snapshot(self, procs: dict[str, list[int]]) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, pid in self.servers.items():
            if pid is not None:
                with contextlib.suppress(psutil.Error):
                    out[name] = self._tree_seconds(pid)
        for name, pids in procs.items():
            total = 0.0
            for pid in pids:
                with contextlib.suppress(psutil.Error):
                    total += sum(psutil.Process(pid).cpu_times()[:2])
            out[name] = total
        return out


async def local_server_pids(conn: asyncpg.Connection, r: aioredis.Redis) -> CpuMeter:
    """The local PostgreSQL postmaster and redis-server, found through the connections."""
    pg: int | None = None
    with contextlib.suppress(asyncpg.PostgresError, OSError, ValueError):
        directory = await conn.fetchval("SHOW data_directory")
        pg = int(Path(directory, "postmaster.pid").read_text().split()[0])
    if pg is not None and not psutil.pid_exists(pg):
        pg = None
    rd: int | None = int((await r.info("server"))["process_id"])
    if rd is not None and not psutil.pid_exists(rd):
        rd = None
    return CpuMeter(pg, rd)


CPU_FIGURES: list[dict[str, float]] = []


async def end_to_end(
    url: str,
    payloads: list[bytes],
    workers: int,
    batch: int,
    *,
    stages: str = "",
    followers: bool = True,
    shards: int = 1,
    cluster: LocalRedisCluster | None = None,
) -> float:
    """Real `activitylog ingest` processes; time from first XADD to the last commit.

    With `followers`, one `activitylog retry` service runs beside them, keeping the counters
    and the analytics (they follow the log); the time they need after the last commit to
    take everything in, and how far they trailed meanwhile, are printed. With `stages` (a
    path prefix), each worker writes its per-stage seconds there on exit
    (activitylog.runtime.stages). With `shards`, the stream is that many keys; with
    `cluster`, on that Redis Cluster."""
    stream = f"bench:{uuid.uuid4().hex[:8]}:events"
    keys = shard_keys(stream, shards)
    redis_url = cluster.url if cluster else REDIS
    env = (
        os.environ
        | ({"ACTIVITYLOG_STAGE_PROFILE": stages} if stages else {})
        | {
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "ACTIVITY_STREAM": stream,
            "ACTIVITY_STREAM_SHARDS": str(shards),
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
    r = redis_client(redis_url)
    conn = await asyncpg.connect(url)
    try:
        # Let the workers create the groups and block on empty streams first.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = [await r.exists(k) and await r.xinfo_groups(k) for k in keys]
            if all(ready):
                break
            await asyncio.sleep(0.05)
        meter = await local_server_pids(conn, r)
        roles = {"ingest workers": [p.pid for p in procs[:workers]]}
        if followers:
            roles["retry service"] = [procs[-1].pid]
        cpu_before = meter.snapshot(roles)
        watching = asyncio.create_task(watch_followers(url, stop_watching, lags))
        started = time.perf_counter()
        if shards == 1 and cluster is None:
            await publish_from_another_process(stream, payloads, r)
        else:
            await publish_sharded(keys, payloads, r, cluster)
        published = time.perf_counter() - started
        # Workers acknowledge only after commit, so a drained group means all committed.
        # Polling Redis, not count(*), keeps the watcher from eating the workers' CPU.
        while True:
            stats = await sharded_stats(r, keys, "ingest")
            # Everything is published by now; acknowledged entries may already be trimmed,
            # so the stream's length is no measure of progress.
            if stats.lag == 0 and stats.pending == 0:
                break
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        cpu_after = meter.snapshot(roles)
        stored = await count(conn)
        if stored != len(payloads):
            raise RuntimeError(f"stream drained but {stored:,} of {len(payloads):,} rows stored")
        print(f"  (publishing, by redis-cli --pipe, took {published:.2f}s of {elapsed:.2f}s)")
        per_event = {k: 1e6 * (cpu_after[k] - cpu_before[k]) / stored for k in cpu_after}
        CPU_FIGURES.append(per_event)
        print(
            "  CPU per event (us): "
            + ", ".join(f"{k} {v:.1f}" for k, v in per_event.items())
            + f"; all {sum(per_event.values()):.1f}"
        )
        if followers:
            behind = await followers_caught_up(url)
            stop_watching.set()
            await watching
            figures = "; ".join(
                f"{name} p50 {statistics.median(v):.2f} s, max {max(v):.2f} s"
                for name, v in sorted(lags.items())
            )
            print(f"  followers caught up {behind:.2f}s after the last commit; lag: {figures}")
        else:
            stop_watching.set()
            await watching  # before the database goes
        return len(payloads) / elapsed
    finally:
        stop_watching.set()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
        for key in keys:
            await r.delete(key)
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
    parser.add_argument(
        "--shards",
        type=int,
        default=1,
        help="compare end-to-end on one stream key with N shards (ACTIVITY_STREAM_SHARDS)",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="with --shards: also on a local Redis Cluster (3 masters, 3 replicas) it starts",
    )
    args = parser.parse_args()
    if args.shards > 1:
        await shard_rounds(args)
        return
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
                await empty_log(url)
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
                await empty_log(url)
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
        if CPU_FIGURES:
            medians = {k: statistics.median(f[k] for f in CPU_FIGURES) for k in CPU_FIGURES[0]}
            print(
                "CPU per event, medians of rounds (us): "
                + ", ".join(f"{k} {v:.1f}" for k, v in medians.items())
            )
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


async def empty_log(url: str) -> None:
    """Events gone, leads kept, between end-to-end runs of the same events: the id registry
    too (or every run after the first would find only duplicates)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE lead_activity_log, lead_activity_ids, analytics_queue")
    finally:
        await conn.close()


async def shard_rounds(args: argparse.Namespace) -> None:
    """End-to-end, in turn each round: one stream key on the single Redis, `--shards` keys on
    it, and (`--cluster`) `--shards` keys on a local Redis Cluster; the medians side by side."""
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(local_redis_cluster()) if args.cluster else None
        modes: list[tuple[str, int, LocalRedisCluster | None]] = [
            ("single Redis, 1 key", 1, None),
            (f"single Redis, {args.shards} shards", args.shards, None),
        ]
        if cluster is not None:
            modes.append((f"Redis Cluster 3+3, {args.shards} shards", args.shards, cluster))
        async with with_database(PG, f"activitylog_bench_{uuid.uuid4().hex[:8]}") as url:
            payloads = make_events(args.events, args.leads)
            print(
                f"{args.events:,} events over {args.leads:,} leads; {os.cpu_count()} CPUs; "
                f"{args.workers} ingest workers"
            )
            figures: dict[str, list[float]] = {name: [] for name, _, _ in modes}
            for n in range(1, args.rounds + 1):
                for name, shards, where in modes:
                    await empty_log(url)
                    figures[name].append(
                        await end_to_end(
                            url,
                            payloads,
                            args.workers,
                            args.batch_size,
                            followers=not args.no_followers,
                            shards=shards,
                            cluster=where,
                        )
                    )
                    print(f"round {n}: {name}: {figures[name][-1]:,.0f} events/s", flush=True)
            base = statistics.median(figures[modes[0][0]])
            for name, values in figures.items():
                median = statistics.median(values)
                print(f"{name:<34} {median:>10,.0f} events/s (median)  {median / base:.2f} x")


if __name__ == "__main__":
    asyncio.run(main())
