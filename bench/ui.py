"""Admin UI benchmark: server-side response time of each page with 1,000,000 events loaded
(the activity browser's search, sort and filter paths, its lead context and suggestions).

Usage: python bench/ui.py [--events 1000000] [--leads 20000] [--days 90] [--runs 15]
                          [--loader sql|python] [--database NAME] [--keep]
Needs PostgreSQL and Redis (BENCH_DATABASE_URL / BENCH_REDIS_URL, else 127.0.0.1). Creates its
own database (or reuses --database NAME if it already holds the events), builds leads and
events inside PostgreSQL (bench/loader.py; `--loader python` COPYs them from Python), serves
the api in this process and times each page over loopback HTTP (a signed-in admin, as the
browser would). Prints min / median / p95 / max per page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import uuid

import httpx
from bench_support import EMAIL, PASSWORD, WORDS, load_log, measure, sign_in
from loader import Shape, add_retry_rows, words_of
from loader import load as load_sql

from activitylog.runtime.db import connect
from activitylog.runtime.settings import Settings
from activitylog.storage import admin_users
from activitylog.use_cases.access.accounts import hash_password
from activitylog_testing.databases import with_database
from activitylog_testing.ports import free_port
from activitylog_testing.serving import serving_api

PG = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/0"


def message(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(10))


async def load(url: str, events: int, leads: int, days: int, loader: str) -> None:
    """The log, then retry_queue rows in every status for the retry page."""
    if loader == "python":
        await load_log(url, events=events, leads=leads, days=days, message=message)
    else:
        await load_sql(url, Shape(events, leads, 0, days, words_of("ui")))
    await add_retry_rows(url, 2000)


async def pages(url: str) -> list[tuple[str, str]]:
    conn = await connect(url)
    try:
        busy = await conn.fetchrow(
            """
            SELECT lead_id, count(*) AS n FROM lead_activity_log
            GROUP BY lead_id ORDER BY n DESC LIMIT 1
            """
        )
        email = await conn.fetchval("SELECT email FROM leads WHERE email IS NOT NULL LIMIT 1")
    finally:
        await conn.close()
    return [
        ("dashboard", "/admin"),
        ("activity, no filter", "/admin/activity-logs"),
        ("activity, partial (auto-refresh)", "/admin/activity-logs?__partial"),
        ("activity, category SMS", "/admin/activity-logs?category=SMS"),
        ("activity, type + 24 h", "/admin/activity-logs?eventType=OPT_OUT&range=24h"),
        ("activity, search word", "/admin/activity-logs?search=inspection"),
        ("activity, search 2 words", "/admin/activity-logs?search=solar+discount"),
        ("activity, search lead email", f"/admin/activity-logs?search={email}"),
        ("activity, search name prefix", "/admin/activity-logs?search=jan"),
        ("activity, search name typo", "/admin/activity-logs?search=Stonne"),
        ("activity, search metadata", "/admin/activity-logs?search=camp17"),
        ("activity, source filter", "/admin/activity-logs?source=n8n:wf-3"),
        ("activity, source kind n8n", "/admin/activity-logs?source=n8n"),
        (
            "activity, 3 types",
            "/admin/activity-logs?eventType=OPT_OUT,NOTE_ADDED,BOOKING_CONFIRMED",
        ),
        ("activity, today (zone)", "/admin/activity-logs?range=today"),
        ("activity, sorted by event", "/admin/activity-logs?sort=event"),
        ("activity, sorted by lead", "/admin/activity-logs?sort=lead&dir=asc"),
        ("activity, sorted by lead Z-A", "/admin/activity-logs?sort=lead"),
        ("activity, by lead, 3rd page", "OLDER2 /admin/activity-logs?sort=lead&dir=asc"),
        ("activity, by lead, type OPT_OUT", "/admin/activity-logs?sort=lead&eventType=OPT_OUT"),
        ("activity, by lead, SMS today", "/admin/activity-logs?sort=lead&category=SMS&range=today"),
        ("activity, by lead, search word", "/admin/activity-logs?sort=lead&search=inspection"),
        ("activity, email search by lead", f"/admin/activity-logs?search={email}&sort=lead"),
        ("lead context (row opened)", f"/admin/leads/{busy['lead_id']}/context"),
        ("lead suggestions", "/admin/lead-suggestions?q=jane"),
        ("activity, lead filter", f"/admin/activity-logs?lead={busy['lead_id']}"),
        ("activity, 3rd page (keyset)", "OLDER2 /admin/activity-logs"),
        (f"lead page ({busy['n']} events)", f"/admin/leads/{busy['lead_id']}"),
        ("retry queue", "/admin/retry-queue"),
        ("retry queue, dead", "/admin/retry-queue?status=dead"),
    ]


async def third_page(http: httpx.AsyncClient, path: str) -> str:
    """The path of the third page from `path`, following its "Older" links."""
    for _ in range(2):
        html = (await http.get(path)).text
        found = re.search(r'href="([^"]+)" id="older"', html)
        assert found, "no older link"
        path = found[1].replace("&amp;", "&")
    return path


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--loader",
        choices=("sql", "python"),
        default="sql",
        help="sql: generated inside PostgreSQL (bench/loader.py); python: COPY from Python",
    )
    parser.add_argument("--database", help="reuse (or create and keep) this database")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    args = parser.parse_args()
    admin_url = os.environ.get("BENCH_DATABASE_URL", PG)
    redis_url = os.environ.get("BENCH_REDIS_URL", REDIS)
    name = args.database or f"activitylog_bench_ui_{uuid.uuid4().hex[:8]}"
    async with with_database(admin_url, name, keep=args.keep or bool(args.database)) as url:
        conn = await connect(url)
        try:
            if not await conn.fetchval("SELECT count(*) FROM lead_activity_log"):
                print(f"loading {args.events:,} events, {args.leads:,} leads, {args.days} days")
                await load(url, args.events, args.leads, args.days, args.loader)
            total = await conn.fetchval("SELECT count(*) FROM lead_activity_log")
            await admin_users.upsert(conn, EMAIL, hash_password(PASSWORD))
        finally:
            await conn.close()
        settings = Settings(
            database_url=url,
            redis_url=redis_url,
            activity_stream=f"bench-ui-{uuid.uuid4().hex[:6]}:events",
            api_port=free_port(),
            log_level="WARNING",
        )
        async with serving_api(settings) as served:
            http = served.http
            await sign_in(http)
            print(f"\n{total:,} events stored; {args.runs} timed requests per page\n")
            print(f"{'page':40} {'first':>7} {'min':>7} {'median':>7} {'p95':>7} {'max':>7}  (ms)")
            for label, path in await pages(url):
                headers = {}
                if path.startswith("OLDER2 "):
                    path = await third_page(http, path.removeprefix("OLDER2 "))
                if path.endswith("?__partial"):
                    path = path.removesuffix("?__partial")
                    headers = {"x-partial": "1"}
                http.headers.update(headers)
                first, timings = await measure(http, path, args.runs)
                t = sorted(timings)
                for key in headers:
                    del http.headers[key]
                p95 = t[min(len(t) - 1, round(0.95 * (len(t) - 1)))]
                print(
                    f"{label:40} {first:7.1f} {t[0]:7.1f} {statistics.median(t):7.1f} "
                    f"{p95:7.1f} {t[-1]:7.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    asyncio.run(main())
