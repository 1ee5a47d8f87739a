"""API benchmark: timeline, admin search and browse latency, and POST at a fixed rate.

Usage: python bench/api.py [--events 1000000] [--leads 10000] [--clients 20] [--requests 1000]
                           [--days 90] [--loader sql|python]
                           [--rate 1000] [--seconds 20] [--post-rounds 3] [--workers 2]
                           [--with-ingest] [--wrk] [--database NAME] [--keep]
                           [--reads-on primary|replica]

Needs PostgreSQL and Redis (BENCH_DATABASE_URL / BENCH_REDIS_URL, else 127.0.0.1). Creates its
own database (or reuses --database NAME when it already holds the events), builds leads and
events inside PostgreSQL (bench/loader.py; `--loader python` COPYs them from Python, ~4,000
events/s), runs `activitylog api` as a separate process and measures over loopback HTTP
with a minimal keep-alive client (so the figures are the server's, not a client library's).
POST load comes from another process (this script in --loadgen mode): an open-loop
generator sending at a fixed rate, latency measured from each request's scheduled time (no
coordinated omission). `--wrk` adds wrk's closed-loop maximum throughput for POST.
`--reads-on` runs on a PostgreSQL primary and streaming replica of its own (Debian's
PostgreSQL 15, as root: activitylog_testing.pg_replica), the API's read routes on the one
named (DATABASE_READ_URL), to compare the two on the same servers.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis
from bench_support import COMMON, FIRST, LAST, RARE, load_log
from loader import Shape, add_retry_rows, words_of
from loader import load as load_sql

from activitylog.contract.taxonomy import EventType
from activitylog.use_cases.access.keys import generate_key, hash_key, key_prefix
from activitylog_testing import pg_replica
from activitylog_testing.databases import database_url, with_database
from activitylog_testing.ports import free_port

REPO = Path(__file__).resolve().parent.parent

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

TYPES = list(EventType)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values_ms: list[float]) -> str:
    return (
        f"n={len(values_ms):5d}  p50={percentile(values_ms, 50):7.2f} ms  "
        f"p90={percentile(values_ms, 90):7.2f} ms  p99={percentile(values_ms, 99):7.2f} ms  "
        f"max={max(values_ms):7.2f} ms"
    )


# -- loading -------------------------------------------------------------------------------


def message(rng: random.Random) -> str:
    words = [
        rng.choice(COMMON) if rng.random() < 0.5 else rng.choice(RARE)
        for _ in range(rng.randint(6, 14))
    ]
    return " ".join(words)


async def make_key(url: str, role: str, client_id: uuid.UUID | None = None) -> str:
    key = generate_key()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO api_keys (name, role, client_id, key_hash, key_prefix) "
            "VALUES ($1, $2, $3, $4, $5)",
            f"bench-{role}",
            role,
            client_id,
            hash_key(key),
            key_prefix(key),
        )
    finally:
        await conn.close()
    return key


# -- a minimal HTTP/1.1 keep-alive client -------------------------------------------------


class RawHttp:
    """One keep-alive connection; requests are prebuilt bytes, responses read by length."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    async def send(self, request: bytes) -> tuple[int, bytes]:
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n"))[:-2], 16)
                data = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += data[:-2]
            return status, body
        return status, await self.reader.readexactly(length)


def get_request(path: str, key: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\nx-api-key: {key}\r\n\r\n".encode()


def post_request(path: str, key: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nx-api-key: {key}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body


async def time_requests_any(port: int, requests: list[bytes]) -> list[float]:
    """Send one at a time on one connection; latency of each in ms (any 2xx)."""
    return await time_requests(port, requests, ok=(200, 201, 202))


async def timed_or_refused(port: int, requests: list[bytes]) -> str:
    """The requests' figures, or the refusal that stopped them (a read past the API's
    statement timeout answers 503): the next reads are measured either way."""
    try:
        return summary(await time_requests(port, requests))
    except RuntimeError as exc:
        return f"refused: {str(exc)[:120]}"


async def time_requests(
    port: int, requests: list[bytes], ok: tuple[int, ...] = (200,)
) -> list[float]:
    """Send one at a time on one connection; latency of each in ms."""
    http = RawHttp("127.0.0.1", port)
    await http.open()
    latencies = []
    try:
        for request in requests:
            started = time.perf_counter()
            status, body = await http.send(request)
            latencies.append((time.perf_counter() - started) * 1000)
            if status not in ok:
                raise RuntimeError(f"{status}: {body[:300]!r}")
    finally:
        await http.close()
    return latencies


# -- the open-loop POST load generator (runs as its own process) ---------------------------


def event_body(n: int) -> bytes:
    return orjson.dumps(
        {
            "eventType": "MESSAGE_SENT",
            "leadAirtableId": f"recBench{n % 10_000:08d}",
            "description": "SMS sent by the benchmark",
            "messageContent": "Quick reminder about your appointment tomorrow, reply to confirm",
            "metadata": {"campaign_id": "bench", "phone": "+15550001111"},
            "source": "n8n:wf-bench",
            "executionId": f"bench-{uuid.uuid4().hex}",
            "timestamp": datetime.now(UTC).isoformat(),
        }
    )


async def loadgen(
    port: int, key: str, rate: float, seconds: float, connections: int, warmup_s: float = 2.0
) -> dict:
    """Send POSTs at `rate`/s for `warmup_s` + `seconds`; latency from each one's scheduled
    time. The warm-up (connections to Redis and PostgreSQL opened, caches filled) runs at
    the same rate and is reported apart: the figures are the steady state's."""
    warm = int(rate * warmup_s)
    total = warm + int(rate * seconds)
    bodies = [post_request("/api/internal/log-activity", key, event_body(n)) for n in range(total)]
    idle: asyncio.Queue[RawHttp] = asyncio.Queue()
    for _ in range(connections):
        http = RawHttp("127.0.0.1", port)
        await http.open()
        idle.put_nowait(http)
    latencies: list[float] = []
    warmup_latencies: list[float] = []
    statuses: dict[int, int] = {}
    late = 0
    start = time.perf_counter() + 0.2

    async def one(n: int, scheduled: float) -> None:
        nonlocal late
        http = await idle.get()
        if n >= warm and time.perf_counter() - scheduled > 0.001:
            late += 1
        try:
            status, _ = await http.send(bodies[n])
        finally:
            idle.put_nowait(http)
        (latencies if n >= warm else warmup_latencies).append(
            (time.perf_counter() - scheduled) * 1000
        )
        statuses[status] = statuses.get(status, 0) + 1

    # The generator's own pauses would count as server latency: no collector passes while
    # it sends (it allocates little and lives for seconds), and finished tasks are dropped.
    gc.collect()
    gc.freeze()
    gc.disable()
    in_flight: set[asyncio.Task[None]] = set()
    for n in range(total):
        scheduled = start + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(n, scheduled))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)
    gc.enable()
    elapsed = time.perf_counter() - start - warmup_s
    while not idle.empty():
        await idle.get_nowait().close()
    return {
        "sent": total - warm,
        "elapsed_s": elapsed,
        "achieved_rate": (total - warm) / elapsed,
        "statuses": statuses,
        "late_sends": late,
        "latencies_ms": latencies,
        "warmup_latencies_ms": warmup_latencies,
    }


# -- the benchmark ------------------------------------------------------------------------


def cpu_load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "activitylog_cli", *args],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def wait_listening(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise RuntimeError("the API did not start")


async def run(args: argparse.Namespace) -> None:
    name = args.database or f"bench_api_{uuid.uuid4().hex[:8]}"
    if args.reads_on:
        why = pg_replica.available()
        if why:
            raise SystemExit(f"--reads-on: {why}")
        with pg_replica.primary_and_replica() as pair:
            print(f"primary :{pair.primary_port}, replica :{pair.replica_port}")
            async with with_database(pair.primary_url(), name) as url:
                replica = database_url(pair.replica_url(), name)
                await measure(args, name, url, replica if args.reads_on == "replica" else None)
        return
    async with with_database(PG, name, keep=args.keep) as url:
        await measure(args, name, url)
    if args.keep:
        print(f"kept database {name} (reuse with --database {name})")


async def reads_on_replica(port: int) -> None:
    """Wait until the API's read routes read on the replica (its first checks passed)."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        while time.monotonic() < deadline:
            ready = (await http.get("/health/ready")).json()
            if ready.get("read_replica", {}).get("reads_on") == "replica":
                print(f"reads on the replica, lag {ready['read_replica']['lag_s']} s")
                return
            await asyncio.sleep(0.2)
    raise RuntimeError("the API never read on the replica")


async def measure(
    args: argparse.Namespace, name: str, url: str, read_url: str | None = None
) -> None:
    stream = f"bench-api-{uuid.uuid4().hex[:8]}:events"
    log = Path(tempfile.gettempdir()) / f"{stream.replace(':', '_')}.log"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        conn = await asyncpg.connect(url)
        have = await conn.fetchval("SELECT count(*) FROM lead_activity_log")
        await conn.close()
        print(f"database {name}: {have:,} events before loading; {cpu_load()}")
        if have < args.events and args.loader == "python":
            print(f"loading {args.events:,} events over {args.leads:,} leads (COPY) ...")
            await load_log(
                url,
                events=args.events,
                leads=args.leads,
                clients=args.clients,
                message=message,
                days=args.days,
                seed=7,
            )
        elif have < args.events:
            if have:
                raise SystemExit(f"{name} holds {have:,} events, fewer than --events")
            print(f"building {args.events:,} events over {args.leads:,} leads (SQL) ...")
            shape = Shape(args.events, args.leads, args.clients, args.days, words_of("api"))
            await load_sql(url, shape)
            await add_retry_rows(url, 2000)
        conn = await asyncpg.connect(url)
        leads = await conn.fetch("SELECT id, airtable_record_id, client_id FROM leads")
        events = await conn.fetchval("SELECT count(*) FROM lead_activity_log")
        await conn.close()
        admin_key = await make_key(url, "admin")
        ingest_key = await make_key(url, "ingest")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
        env |= {
            "DATABASE_URL": url,
            "REDIS_URL": REDIS,
            "ACTIVITY_STREAM": stream,
            "API_PORT": str(port),
            "API_WORKERS": str(args.workers),
            "LOG_LEVEL": "WARNING",
        }
        if read_url:
            env["DATABASE_READ_URL"] = read_url
        procs.append(start_process(["api"], env, log))
        await wait_listening(port)
        if read_url:
            await reads_on_replica(port)
        print(
            f"\n{events:,} events, {len(leads):,} leads; api pid {procs[0].pid} "
            f"({args.workers} worker(s)); {cpu_load()}"
        )

        rng = random.Random(11)
        n = args.requests
        if not args.post_only:
            # Warm the connection pool, plans and caches.
            warm = [
                get_request(f"/api/leads/{leads[i]['airtable_record_id']}/activity", admin_key)
                for i in range(50)
            ]
            await time_requests(port, warm)

            print("\nGET /api/leads/{id}/activity (random leads, first page of 100)")
            timeline = [
                get_request(
                    f"/api/leads/{rng.choice(leads)['airtable_record_id']}/activity", admin_key
                )
                for _ in range(n)
            ]
            print("  ", summary(await time_requests(port, timeline)))
            print("GET /api/leads/{id}/activity?category=SMS&limit=20 (by UUID)")
            timeline_f = [
                get_request(
                    f"/api/leads/{rng.choice(leads)['id']}/activity?category=SMS&limit=20",
                    admin_key,
                )
                for _ in range(n)
            ]
            print("  ", summary(await time_requests(port, timeline_f)))

            def admin_get(**params: str) -> bytes:
                return get_request(f"/api/admin/activity-logs?{urlencode(params)}", admin_key)

            searches = {
                "common word": [admin_get(search=rng.choice(COMMON)) for _ in range(n // 4)],
                "two common words": [
                    admin_get(search=f"{rng.choice(COMMON)} {rng.choice(COMMON)}")
                    for _ in range(n // 4)
                ],
                "rare word": [admin_get(search=rng.choice(RARE)) for _ in range(n // 4)],
                "lead email": [
                    admin_get(search=f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower()}")
                    for _ in range(n // 4)
                ],
                "email, by lead": [
                    admin_get(
                        search=f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower()}",
                        sortBy="lead",
                    )
                    for _ in range(n // 4)
                ],
                "word, by lead": [
                    admin_get(search=rng.choice(COMMON + RARE), sortBy="lead")
                    for _ in range(n // 4)
                ],
            }
            print("\nGET /api/admin/activity-logs?search=… (50 a page, with the capped count)")
            for label, requests in searches.items():
                print(f"   {label:18s}", await timed_or_refused(port, requests))

            end = datetime.now(UTC)
            browses = {
                "no filter": [admin_get() for _ in range(n // 4)],
                "category+dates": [
                    admin_get(
                        category=rng.choice(["SMS", "BOOKING", "MANUAL"]),
                        dateFrom=(end - timedelta(days=rng.randint(7, 60))).date().isoformat(),
                        dateTo=end.date().isoformat(),
                    )
                    for _ in range(n // 4)
                ],
                "client+type": [
                    admin_get(
                        clientId=str(rng.choice(leads)["client_id"]),
                        eventType=rng.choice(TYPES).value,
                    )
                    for _ in range(n // 4)
                ],
                "source, page 5": [
                    admin_get(source=f"n8n:wf-{rng.randrange(12)}", page="5") for _ in range(n // 4)
                ],
                "by lead name": [
                    admin_get(sortBy="lead", sortOrder=rng.choice(["asc", "desc"]))
                    for _ in range(n // 4)
                ],
                "by lead, page 5": [admin_get(sortBy="lead", page="5") for _ in range(n // 4)],
                "by lead, cl+type": [
                    admin_get(
                        sortBy="lead",
                        clientId=str(rng.choice(leads)["client_id"]),
                        eventType=rng.choice(TYPES).value,
                    )
                    for _ in range(n // 4)
                ],
                "by lead, type": [
                    admin_get(sortBy="lead", eventType=rng.choice(TYPES).value)
                    for _ in range(n // 4)
                ],
                "counts (tabs)": [
                    get_request(
                        "/api/admin/activity-logs/counts?" + urlencode({"dateFrom": "2020-01-01"}),
                        admin_key,
                    )
                    for _ in range(n // 10)
                ],
            }
            print("\nGET /api/admin/activity-logs (browse with filters)")
            for label, requests in browses.items():
                print(f"   {label:18s}", await timed_or_refused(port, requests))

        if args.with_ingest:
            procs.append(start_process(["ingest"], env, log))
        print(
            f"\nPOST /api/internal/log-activity at {args.rate:g}/s for {args.seconds:g} s after a "
            "2 s warm-up "
            f"(open loop, separate process{', ingest worker running' if args.with_ingest else ''})"
            f"; {cpu_load()}"
        )
        # This machine's speed drifts: several rounds, each its own generator process, and
        # the median p99 beside each round's figures.
        p99s: list[float] = []
        for n in range(1, args.post_rounds + 1):
            result = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--loadgen",
                    f"--port={port}",
                    f"--key={ingest_key}",
                    f"--rate={args.rate}",
                    f"--seconds={args.seconds}",
                ],
                capture_output=True,
                check=True,
                env=env,
            )
            report = json.loads(result.stdout)
            p99s.append(percentile(report["latencies_ms"], 99))
            print(
                f"   round {n}: sent {report['sent']:,} in {report['elapsed_s']:.1f} s "
                f"({report['achieved_rate']:.0f}/s), statuses {report['statuses']}, "
                f"late sends {report['late_sends']}"
            )
            print("     ", summary(report["latencies_ms"]))
            print("      its 2 s warm-up:", summary(report["warmup_latencies_ms"]))
        if p99s:
            print(f"   median p99 of {len(p99s)} rounds: {statistics.median(p99s):.2f} ms")
        redis = aioredis.Redis.from_url(REDIS)
        try:
            print(f"   stream length after: {await redis.xlen(stream):,}")
        finally:
            await redis.aclose()

        if args.wrk:
            script = Path(tempfile.gettempdir()) / "bench_api_post.lua"
            script.write_text(
                'wrk.method = "POST"\n'
                f'wrk.headers["x-api-key"] = "{ingest_key}"\n'
                'wrk.headers["content-type"] = "application/json"\n'
                f"wrk.body = [[{event_body(1).decode()}]]\n"
            )
            print("\nwrk (closed loop, 2 threads, 16 connections, 10 s): POST maximum throughput")
            out = subprocess.run(
                [
                    "wrk",
                    "-t2",
                    "-c16",
                    "-d10s",
                    "--latency",
                    "-s",
                    str(script),
                    f"http://127.0.0.1:{port}/api/internal/log-activity",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            for line in out.splitlines():
                if line.strip().startswith(("Requests/sec", "Latency", "50%", "99%", "Non-2xx")):
                    print("  ", line.strip())
        print(f"\ndone; {cpu_load()}")
    finally:
        for proc in procs:
            stop(proc)
        redis = aioredis.Redis.from_url(REDIS)
        await redis.delete(stream)
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--days", type=float, default=90, help="history span (730: 24 months)")
    parser.add_argument(
        "--loader",
        choices=("sql", "python"),
        default="sql",
        help="sql: generated inside PostgreSQL (bench/loader.py); python: COPY from Python",
    )
    parser.add_argument("--requests", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=1_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--workers", type=int, default=2, help="API_WORKERS of the api (compose runs 2)"
    )
    parser.add_argument("--post-rounds", type=int, default=3)
    parser.add_argument("--with-ingest", action="store_true")
    parser.add_argument("--post-only", action="store_true", help="skip the read benchmarks")
    parser.add_argument("--wrk", action="store_true")
    parser.add_argument("--database")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--reads-on",
        choices=["primary", "replica"],
        help="on a primary + streaming replica of its own; the read routes on the one named",
    )
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the api process and the database are cleaned up.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.loadgen:
        report = asyncio.run(loadgen(args.port, args.key, args.rate, args.seconds, 64))
        sys.stdout.write(json.dumps(report))
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
