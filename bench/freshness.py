"""Freshness benchmark: publish at a fixed rate (open loop) and measure how soon each event is
stored, and how soon the counters and the analytics have taken it in.

Usage: python bench/freshness.py [--rate 1000] [--seconds 30] [--workers 2]

Real `activitylog ingest` workers and one `activitylog retry` service (whose followers keep
the counters and the analytics) run against a database of their own. Events are published
on a fixed schedule whatever the workers do (open loop), and every figure is measured from
an event's scheduled publishing time, so a stall shows in the figures instead of slowing
the publisher down (no coordinated omission):

- stored: until the event's entry is acknowledged. Workers acknowledge only after the
  commit, so this is the commit plus one XACK round trip: an upper bound of XADD → committed
  row. An observer polls the group's pending entries every 2 ms.
- counted / analysed: until the counters' (the analytics') follower cursor has passed the
  event's row, polled every 10 ms (activitylog.domain.followers).

Targets (issue 24): stored p99 < 10 ms, counted and analysed p99 < 2 s at 1,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
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
from activitylog.storage.log_followers import Follower
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


def payload(n: int, event_id: uuid.UUID, leads: int) -> bytes:
    return orjson.dumps(
        {
            "eventId": str(event_id),
            "eventType": TYPES[n % len(TYPES)],
            "leadAirtableId": f"recFresh{n % leads:08d}",
            "description": f"Freshness event {n}",
            "messageContent": "hello quick reminder about your appointment tomorrow",
            "metadata": {"campaign_id": f"camp{n % 20}", "phone": f"+1555{n:07d}"},
            "source": f"n8n:wf-{n % 12}",
            "timestamp": datetime.now(UTC).isoformat(),
        }
    )


class Observer:
    """Notes when each published entry is acknowledged by the group (committed)."""

    def __init__(self, redis: aioredis.Redis, stream: str, group: str) -> None:
        self.redis, self.stream, self.group = redis, stream, group
        self.published: collections.deque[tuple[tuple[int, int], float]] = collections.deque()
        self.delivered: dict[tuple[int, int], float] = {}  # delivered, not acknowledged yet
        self.stored: list[tuple[float, float]] = []  # (scheduled time, latency)
        self.done = asyncio.Event()

    def add(self, entry_id: str, due: float) -> None:
        self.published.append((_key(entry_id), due))

    async def run(self) -> None:
        while not (self.done.is_set() and not self.published and not self.delivered):
            groups = await self.redis.xinfo_groups(self.stream)
            info = next(g for g in groups if _text(g["name"]) == self.group)
            last = _key(_text(info["last-delivered-id"]))
            pending = await self.redis.xpending_range(self.stream, self.group, "-", "+", 10_000)
            waiting = {_key(_text(p["message_id"])) for p in pending}
            now = time.time()
            # Entries are published in id order: only the front can have been delivered.
            while self.published and self.published[0][0] <= last:
                key, due = self.published.popleft()
                self.delivered[key] = due
            for key in [k for k in self.delivered if k not in waiting]:
                due = self.delivered.pop(key)
                self.stored.append((due, now - due))
            await asyncio.sleep(0.002)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _key(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


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
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not measured")
    args = parser.parse_args()

    async with with_database(PG, f"activitylog_fresh_{uuid.uuid4().hex[:8]}") as url:
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
            observer = Observer(redis, stream, "ingest")
            watching = asyncio.create_task(observer.run())
            stop = asyncio.Event()
            samples: list[tuple[float, dict[Follower, LogPlace]]] = []
            cursors = asyncio.create_task(follow_cursors(url, stop, samples))
            total = int(args.rate * args.seconds)
            scheduled: dict[uuid.UUID, float] = {}
            measured_from = time.time() + args.warmup
            start = time.time() + 0.2
            late = 0
            n = 0
            while n < total:
                # Every event due by now, in one pipeline: a late wake-up publishes what it
                # owes at once instead of falling further behind the schedule.
                due_now = min(total, int((time.time() - start) * args.rate) + 1)
                if due_now <= n:
                    await asyncio.sleep(max(start + n / args.rate - time.time(), 0))
                    continue
                ids_ = [uuid.uuid4() for _ in range(n, due_now)]
                async with redis.pipeline(transaction=False) as pipe:
                    for k, event_id in zip(range(n, due_now), ids_, strict=True):
                        pipe.xadd(stream, {"payload": payload(k, event_id, args.leads)})
                    entries = await pipe.execute()
                sent = time.time()
                for k, event_id, entry in zip(range(n, due_now), ids_, entries, strict=True):
                    due = start + k / args.rate
                    late += sent - due > 0.001
                    observer.add(_text(entry), due)
                    scheduled[event_id] = due
                n = due_now
            observer.done.set()
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
        stored = [latency for due, latency in observer.stored if due >= measured_from]
        print(f"   stored (XADD → acknowledged after commit): {percentiles(stored)}")
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
