"""Counters benchmark: health, the dashboard and the retry-queue page when every event
arrived within the hour, beside the row counts they used to run, measured in the same run.

Usage: python bench/counters.py [--events 1000000] [--leads 100000] [--health-runs 300]
                                [--page-runs 40] [--database NAME] [--keep]
                                [--sources 12] [--arrived-within-hours H]
                                [--loader sql|python] [--counters rebuild|keep]
With --arrived-within-hours, events arrive spread over the last H hours instead of all now
(diverse traffic: every minute of the window from many of the --sources); the health query
of before the all-events totals (per category and source rows) is timed beside it.
With --database NAME an existing database is reused (the one `bench/api.py --keep` or an
earlier run left, or bench/loader.py built); it is loaded first when empty, every event
arriving now. The counters are recounted from the log before timing, as `activitylog
counters rebuild` does, unless `--counters keep` (a database bench/loader.py built has them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench_support import EMAIL, PASSWORD, WORDS, load_log, measure, sign_in
from loader import Shape, words_of
from loader import load as load_sql

from activitylog.domain.counters.rollups import compaction_cutoffs
from activitylog.runtime.db import connect
from activitylog.runtime.settings import Settings
from activitylog.storage import admin_users, event_counts
from activitylog.use_cases.access.accounts import hash_password
from activitylog_testing.databases import with_database
from activitylog_testing.ports import free_port
from activitylog_testing.serving import serving_api

PG = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/0"

# What health and the dashboard ran before the counters: counts over the log's rows.
ROW_COUNTS = {
    "health figures, per category and source rows": (
        # What health read before the all-events totals (migration 0017): every arrival
        # counter of a category and source in its windows, summed.
        """
        SELECT coalesce(sum(n) FILTER (WHERE grain = 'minute'
                                       AND bucket >= now() - interval '1 hour'), 0),
               coalesce(sum(n) FILTER (WHERE grain = 'hour'
                                       AND bucket >= now() - interval '24 hours'), 0),
               count(*)
        FROM event_counts
        WHERE basis = 'arrival' AND category <> '*'
          AND ((grain = 'minute' AND bucket >= now() - interval '1 hour')
               OR (grain = 'hour' AND bucket >= now() - interval '24 hours'))
        """,
        (),
    ),
    "health figures, counting rows": (
        """
        SELECT count(*) FILTER (WHERE created_at >= now() - interval '1 hour'),
               count(*), max(created_at)
        FROM lead_activity_log WHERE created_at >= now() - interval '24 hours'
        """,
        (),
    ),
    "dashboard, 30 days per day, counting rows": (
        """
        SELECT date_trunc('day', "timestamp", 'UTC'), event_category, count(*)
        FROM lead_activity_log WHERE "timestamp" >= $1 AND "timestamp" < $2 GROUP BY 1, 2
        """,
        ("days",),
    ),
}


def message(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(10))


def summary(timings: list[float]) -> tuple[float, float, float]:
    t = sorted(timings)

    def pct(q: float) -> float:
        return t[min(len(t) - 1, round(q * (len(t) - 1)))]

    return statistics.median(t), pct(0.95), pct(0.99)


async def row_counts(url: str, runs: int) -> dict[str, list[float]]:
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    window = (today - timedelta(days=29), today + timedelta(days=1))
    conn = await connect(url)
    try:
        out: dict[str, list[float]] = {}
        for label, (sql, params) in ROW_COUNTS.items():
            values = window if params else ()
            await conn.fetch(sql, *values)  # warm
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                await conn.fetch(sql, *values)
                timings.append((time.perf_counter() - started) * 1000)
            out[label] = timings
        return out
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--health-runs", type=int, default=300)
    parser.add_argument("--page-runs", type=int, default=40)
    parser.add_argument("--baseline-runs", type=int, default=5)
    parser.add_argument("--database", help="reuse (or create and keep) this database")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--sources", type=int, default=12)
    parser.add_argument("--arrived-within-hours", type=float, default=0.0)
    parser.add_argument(
        "--loader",
        choices=("sql", "python"),
        default="sql",
        help="sql: generated inside PostgreSQL (bench/loader.py); python: COPY from Python",
    )
    parser.add_argument(
        "--counters",
        choices=("rebuild", "keep"),
        default="rebuild",
        help="with --database: recount the counters first (rebuild) or time them as they are",
    )
    args = parser.parse_args()
    admin_url = os.environ.get("BENCH_DATABASE_URL", PG)
    redis_url = os.environ.get("BENCH_REDIS_URL", REDIS)
    name = args.database or f"activitylog_bench_counters_{uuid.uuid4().hex[:8]}"
    async with with_database(admin_url, name, keep=args.keep or bool(args.database)) as url:
        conn = await connect(url)
        try:
            if not await conn.fetchval("SELECT count(*) FROM lead_activity_log"):
                spread = args.arrived_within_hours
                when = f"over the last {spread:g} h" if spread else "now"
                print(
                    f"loading {args.events:,} events from {args.sources} sources, arriving {when}"
                )
                if args.loader == "python":
                    await load_log(
                        url,
                        events=args.events,
                        leads=args.leads,
                        clients=args.clients,
                        message=message,
                        arrived_now=not spread,
                        sources=args.sources,
                        arrived_within=timedelta(hours=spread) if spread else None,
                    )
                else:
                    shape = Shape(
                        args.events,
                        args.leads,
                        args.clients,
                        90,
                        words_of("ui"),
                        sources=args.sources,
                        arrived_within=timedelta(hours=spread) if spread else None,
                        arrived_now=not spread,
                    )
                    await load_sql(url, shape)
            elif args.counters == "rebuild":
                started = time.perf_counter()
                await event_counts.rebuild(conn, compaction_cutoffs(datetime.now(UTC)))
                await conn.execute("VACUUM ANALYZE event_counts")
                print(f"counters rebuilt in {time.perf_counter() - started:.1f} s")
            total = await conn.fetchval("SELECT count(*) FROM lead_activity_log")
            last_hour = await conn.fetchval(
                "SELECT count(*) FROM lead_activity_log "
                "WHERE created_at >= now() - interval '1 hour'"
            )
            counters = await conn.fetchval("SELECT count(*) FROM event_counts")
            await admin_users.upsert(conn, EMAIL, hash_password(PASSWORD))
        finally:
            await conn.close()
        print(
            f"\n{total:,} events stored, {last_hour:,} of them in the last hour; "
            f"{counters:,} counter rows\n"
        )
        settings = Settings(
            database_url=url,
            redis_url=redis_url,
            activity_stream=f"bench-counters-{uuid.uuid4().hex[:6]}:events",
            api_port=free_port(),
            log_level="WARNING",
        )
        print(f"{'request':44} {'runs':>5} {'median':>8} {'p95':>8} {'p99':>8}  (ms)")
        async with serving_api(settings) as served:
            http = served.http
            await sign_in(http)
            for label, path, n in (
                (
                    "GET /api/internal/activity-health",
                    "/api/internal/activity-health",
                    args.health_runs,
                ),
                ("GET /admin (dashboard)", "/admin", args.page_runs),
                ("GET /admin/retry-queue", "/admin/retry-queue", args.page_runs),
                ("GET /admin/activity-logs (totals)", "/admin/activity-logs", args.page_runs),
            ):
                _, timings = await measure(http, path, n)
                med, p95, p99 = summary(timings)
                print(f"{label:44} {n:5} {med:8.1f} {p95:8.1f} {p99:8.1f}", flush=True)
        for label, timings in (await row_counts(url, args.baseline_runs)).items():
            med, p95, p99 = summary(timings)
            print(f"{label:44} {len(timings):5} {med:8.1f} {p95:8.1f} {p99:8.1f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
