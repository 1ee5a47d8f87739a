"""Freshness benchmark: publish at a fixed rate (open loop) and measure how soon each event is
stored, and how soon the counters and the analytics have taken it in.

Usage: python bench/freshness.py [--rate 1000] [--seconds 30] [--workers 2]

Real `activitylog ingest` workers and one `activitylog retry` service (whose followers keep
the counters and the analytics) run against a database of their own. Events are published
on a fixed schedule whatever the workers do (open loop), and every figure is measured from
an event's scheduled publishing time, so a stall shows in the figures instead of slowing
the publisher down (no coordinated omission):

- stored: until the worker announces the event's batch committed (it publishes each
  committed batch's ids on the stream's "stored" channel, after the COMMIT returned): an
  upper bound of XADD → committed row. The observer listens; it does not poll.
- counted / analysed: until the counters' (the analytics') follower cursor has passed the
  event's row, polled every 10 ms (activitylog.domain.followers).

Targets (issue 24): stored p99 < 10 ms, counted and analysed p99 < 2 s at 1,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson
import redis.asyncio as aioredis

from activitylog.domain.followers import LogPlace
from activitylog.storage import log_followers
from activitylog.storage.live import stored_channel
from activitylog.storage.log_followers import Follower
from activitylog.use_cases.live.announcements import Announcement
from activitylog_testing.databases import with_database

REPO = Path(__file__).resolve().parent.parent
# The workers, as `activitylog ingest` and `activitylog retry` run them.
SERVICE = Path(__file__).resolve().parent / "service_process.py"
PG = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TYPES = ["MESSAGE_SENT", "MESSAGE_DELIVERED", "INBOUND_REPLY", "CAMPAIGN_ENROLLED", "NOTE_ADDED"]


def percentiles(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return (
        f"p50 {at(0.5) * 1000:8.1f} ms   p90 {at(0.9) * 1000:8.1f} ms   "
        f"p99 {at(0.99) * 1000:8.1f} ms   max {ordered[-1] * 1000:8.1f} ms   (n={len(values)})"
    )


def payload(n: int, event_id: uuid.UUID, leads: int, at: float | None = None) -> bytes:
    return orjson.dumps(
        {
            "eventId": str(event_id),
            "eventType": TYPES[n % len(TYPES)],
            "leadAirtableId": f"recFresh{n % leads:08d}",
            "description": f"Freshness event {n}",
            "messageContent": "hello quick reminder about your appointment tomorrow",
            "metadata": {"campaign_id": f"camp{n % 20}", "phone": f"+1555{n:07d}"},
            "source": f"n8n:wf-{n % 12}",
            "timestamp": datetime.fromtimestamp(at or time.time(), UTC).isoformat(),
        }
    )


class Observer:
    """Notes when each event's batch is committed: the ingest announces every committed
    batch's stored ids on its "stored" channel (use_cases.live.announcements), so this
    listens instead of polling the group, and adds no load of its own to the machine."""

    def __init__(self, redis: aioredis.Redis, channel: str) -> None:
        self.redis, self.channel = redis, channel
        # Published, not announced yet: when it was due, and when its XADD was called.
        self.due: dict[uuid.UUID, tuple[float, float]] = {}
        # (scheduled time, latency from it, latency from the XADD call)
        self.stored: list[tuple[float, float, float]] = []
        self.done = asyncio.Event()
        self.subscribed = asyncio.Event()

    def add(self, event_id: uuid.UUID, due: float, called: float) -> None:
        self.due[event_id] = (due, called)

    async def run(self) -> None:
        async with self.redis.pubsub() as pubsub:
            await pubsub.subscribe(self.channel)
            self.subscribed.set()
            # Pub/sub may drop a message: the caller bounds the wait and counts what came.
            while not (self.done.is_set() and not self.due):
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                if message is None:
                    continue
                now = time.time()
                announcement = Announcement.decode(message["data"])
                for event_id in announcement.stored if announcement else ():
                    times = self.due.pop(event_id, None)
                    if times is not None:
                        self.stored.append((times[0], now - times[0], now - times[1]))


async def round_trips(url: str, redis: aioredis.Redis, n: int = 300) -> str:
    """The machine's floor: the median of a trivial statement's and a PING's round trip (a
    batch makes about eight of the first, besides its work)."""
    conn = await asyncpg.connect(url)
    try:
        pg, ping = [], []
        for _ in range(n):
            started = time.perf_counter()
            await conn.fetchval("SELECT 1")
            pg.append(time.perf_counter() - started)
            started = time.perf_counter()
            await redis.ping()
            ping.append(time.perf_counter() - started)
    finally:
        await conn.close()
    pg.sort()
    ping.sort()
    return (
        f"round trips before the run (median): PostgreSQL {pg[n // 2] * 1e6:.0f} µs, "
        f"Redis {ping[n // 2] * 1e6:.0f} µs"
    )


async def synced_leads(url: str, leads: int, clients: int = 20) -> None:
    """The leads as the lead sync leaves them: each with its Airtable id and its client."""
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(
            "INSERT INTO leads (airtable_record_id, client_id, first_name) VALUES ($1, $2, $3)",
            [
                (f"recFresh{n:08d}", uuid.UUID(int=n % clients + 1), f"Lead {n}")
                for n in range(leads)
            ],
        )
    finally:
        await conn.close()


async def follow_cursors(
    url: str, stop: asyncio.Event, samples: list[tuple[float, dict[Follower, LogPlace]]]
) -> None:
    conn = await asyncpg.connect(url)
    try:
        while not stop.is_set():
            samples.append((time.time(), await log_followers.cursors(conn)))
            await asyncio.sleep(0.01)
        samples.append((time.time(), await log_followers.cursors(conn)))
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument(
        "--stub-leads",
        action="store_true",
        help="leads unknown until their first event (created as stubs without a client), "
        "instead of synced from Airtable with their client first, as in production",
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not measured")
    args = parser.parse_args()

    async with with_database(PG, f"activitylog_fresh_{uuid.uuid4().hex[:8]}") as url:
        if not args.stub_leads:
            await synced_leads(url, args.leads)
        stream = f"bench:{uuid.uuid4().hex[:8]}:fresh"
        env = os.environ | {
            "DATABASE_URL": url,
            "REDIS_URL": REDIS,
            "ACTIVITY_STREAM": stream,
            "INGEST_GROUP": "ingest",
            "LOG_LEVEL": "WARNING",
        }
        procs = [
            subprocess.Popen(
                [sys.executable, str(SERVICE), "ingest"],
                env=env | {"INGEST_CONSUMER": f"fresh-{i}"},
                cwd=REPO,
            )
            for i in range(args.workers)
        ]
        procs.append(
            subprocess.Popen(
                [sys.executable, str(SERVICE), "retry"],
                env=env | {"INGEST_CONSUMER": "fresh-retry"},
                cwd=REPO,
            )
        )
        redis = aioredis.Redis.from_url(REDIS)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if await redis.exists(stream) and await redis.xinfo_groups(stream):
                    break
                await asyncio.sleep(0.05)
            floor = await round_trips(url, redis)
            observer = Observer(redis, stored_channel(stream))
            watching = asyncio.create_task(observer.run())
            await asyncio.wait_for(observer.subscribed.wait(), 10)
            stop = asyncio.Event()
            samples: list[tuple[float, dict[Follower, LogPlace]]] = []
            cursors = asyncio.create_task(follow_cursors(url, stop, samples))
            total = int(args.rate * args.seconds)
            scheduled: dict[uuid.UUID, float] = {}
            # Built before the clock starts: the publisher's own work is not the system's.
            ids = [uuid.uuid4() for _ in range(total)]
            at = time.time()
            bodies = [payload(k, ids[k], args.leads, at + k / args.rate) for k in range(total)]
            start = time.time() + 0.2
            measured_from = start + args.warmup
            late = 0
            n = 0
            while n < total:
                # Every event due by now, in one pipeline: a late wake-up publishes what it
                # owes at once instead of falling further behind the schedule.
                due_now = min(total, int((time.time() - start) * args.rate) + 1)
                if due_now <= n:
                    await asyncio.sleep(max(start + n / args.rate - time.time(), 0))
                    continue
                calling = time.time()
                async with redis.pipeline(transaction=False) as pipe:
                    for k in range(n, due_now):
                        pipe.xadd(stream, {"payload": bodies[k]})
                    await pipe.execute()
                sent = time.time()
                for k in range(n, due_now):
                    due = start + k / args.rate
                    late += sent - due > 0.001
                    observer.add(ids[k], due, calling)
                    scheduled[ids[k]] = due
                n = due_now
            observer.done.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watching, 120)
            # The followers: until both cursors have passed every row.
            conn = await asyncpg.connect(url)
            try:
                rows = await conn.fetch(
                    "SELECT id, tx::text::bigint AS tx, position, created_at FROM lead_activity_log"
                )
                last = max(LogPlace(r["tx"], r["position"]) for r in rows)
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    now = await log_followers.cursors(conn)
                    if all(place >= last for place in now.values()):
                        break
                    await asyncio.sleep(0.05)
            finally:
                await conn.close()
            stop.set()
            await cursors
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(30)
            await redis.delete(stream)
            await redis.aclose()

        print(
            f"{total:,} events at {args.rate:,.0f}/s for {args.seconds:g} s, open loop "
            f"({late:,} published more than 1 ms late); {args.workers} ingest workers, 1 retry "
            f"service; {os.cpu_count()} CPUs; first {args.warmup:g} s not measured"
        )
        print(floor)
        stored = [s for s in observer.stored if s[0] >= measured_from]
        print(f"   stored (due → committed, announced):  {percentiles([s[1] for s in stored])}")
        print(f"          (XADD → committed, announced): {percentiles([s[2] for s in stored])}")
        for follower in Follower:
            lags, since_commit = [], []
            index = 0
            by_place = sorted(
                (LogPlace(r["tx"], r["position"]), scheduled[r["id"]], r["created_at"])
                for r in rows
            )
            # Samples are in time order and cursors only move forward: one pass.
            for place, due, arrived in by_place:
                while index < len(samples) and samples[index][1][follower] < place:
                    index += 1
                if index == len(samples):
                    break
                if due >= measured_from:
                    lags.append(samples[index][0] - due)
                    since_commit.append(samples[index][0] - arrived.timestamp())
            print(f"{follower.value:>9} (XADD → taken in):                {percentiles(lags)}")
            print(f"{'':>9} (arrival → taken in):             {percentiles(since_commit)}")


if __name__ == "__main__":
    asyncio.run(main())
