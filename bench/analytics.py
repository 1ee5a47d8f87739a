"""Analytics benchmark: p50/p99 of every /api/analytics route (and CSV twin) at 10 M events.

Usage: python bench/analytics.py [--database bench10m] [--runs 100]

Reuses a database `bench/api.py --keep --database NAME` loaded (10 M events, 100 k leads, 40
campaigns); migrating it runs 0011_analytics, which fills the analytics from the log, and
its time is printed. Each route is timed unfiltered, for one client (as a portal key reads
it), one campaign, one source, and a 4-week period, over loopback HTTP with an admin key.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

from bench_support import EMAIL, PASSWORD, measure, sign_in

from activitylog.runtime.db import connect
from activitylog.runtime.migrate import applied_checksums, migrate
from activitylog.runtime.settings import Settings
from activitylog.storage import admin_users, api_keys
from activitylog.use_cases.access.accounts import hash_password
from activitylog.use_cases.access.keys import generate_key, hash_key, key_prefix
from activitylog_testing.databases import database_url
from activitylog_testing.ports import free_port
from activitylog_testing.serving import serving_api

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ROUTES = ("replies", "funnel", "delivery", "timing")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def prepare(url: str) -> tuple[str, dict[str, str]]:
    """Migrate (timed), make an admin key, and pick a client, campaign and period to filter by."""
    conn = await connect(url)
    try:
        before = set(await applied_checksums(conn))
    finally:
        await conn.close()
    started = time.perf_counter()
    applied = await migrate(url)
    took = time.perf_counter() - started
    if 11 not in before:
        versions = ", ".join(f"{m.version:04d}" for m in applied)
        print(f"migrations {versions} applied in {took:.1f} s (0011 fills the analytics)")
    conn = await connect(url)
    try:
        events = await conn.fetchval("SELECT count(*) FROM lead_activity_log")
        facts = await conn.fetchval("SELECT count(*) FROM lead_campaign_facts")
        counts = await conn.fetchval("SELECT count(*) FROM analytics_counts")
        print(f"{events:,} events; {facts:,} lead-campaign facts; {counts:,} count rows")
        await conn.execute("VACUUM ANALYZE analytics_counts")
        await admin_users.upsert(conn, EMAIL, hash_password(PASSWORD))
        key = generate_key()
        await api_keys.create(
            conn,
            name=f"bench-analytics-{uuid.uuid4().hex[:6]}",
            role="admin",
            client_id=None,
            key_hash=hash_key(key),
            key_prefix=key_prefix(key),
        )
        row = await conn.fetchrow(
            "SELECT client_id, campaign, source, max(week) AS week FROM analytics_counts "
            "WHERE grain = 3 AND client_id IS NOT NULL AND campaign <> '' GROUP BY 1, 2, 3 LIMIT 1"
        )
    finally:
        await conn.close()
    assert row is not None, "no analytics counts: is the database loaded?"
    last = row["week"]
    filters = {
        "all": "",
        "client": f"?clientId={row['client_id']}",
        "campaign": f"?campaign={row['campaign']}",
        "source": f"?source={row['source']}",
        "4 weeks": f"?dateFrom={last.replace(day=1).isoformat()}&dateTo={last.isoformat()}",
    }
    return key, filters


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="bench10m")
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    url = database_url(PG, args.database)
    key, filters = await prepare(url)
    settings = Settings(
        database_url=url,
        redis_url=REDIS,
        activity_stream=f"bench-analytics-{uuid.uuid4().hex[:6]}:events",
        api_port=free_port(),
        log_level="WARNING",
    )
    print(f"\n{'route':34} {'filter':9} {'runs':>5} {'first':>7} {'p50':>7} {'p99':>7}  (ms)")
    worst = 0.0
    async with serving_api(settings) as served, served.client(key) as http:
        for route in ROUTES:
            for suffix in ("", ".csv"):
                for label, query in filters.items():
                    path = f"/api/analytics/{route}{suffix}{query}"
                    first, timings = await measure(http, path, args.runs)
                    p50, p99 = statistics.median(timings), pct(timings, 0.99)
                    worst = max(worst, p99)
                    name = f"GET /api/analytics/{route}{suffix}"
                    print(
                        f"{name:34} {label:9} {args.runs:5} {first:7.1f} {p50:7.1f} {p99:7.1f}",
                        flush=True,
                    )
        # The analytics page runs all four answers and lists the campaigns.
        await sign_in(served.http)
        for label, query in filters.items():
            first, timings = await measure(served.http, f"/admin/analytics{query}", args.runs)
            p50, p99 = statistics.median(timings), pct(timings, 0.99)
            print(
                f"{'GET /admin/analytics':34} {label:9} {args.runs:5} {first:7.1f} {p50:7.1f} "
                f"{p99:7.1f}",
                flush=True,
            )
    print(f"\nworst p99 of the API routes: {worst:.1f} ms (target: 300 ms)")


if __name__ == "__main__":
    asyncio.run(main())
