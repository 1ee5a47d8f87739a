"""Admin UI benchmark: server-side response time of each page with 1,000,000 events loaded.

Usage: python bench/ui.py [--events 1000000] [--leads 20000] [--days 90] [--runs 15]
                          [--database NAME] [--keep]
Needs PostgreSQL and Redis (BENCH_DATABASE_URL / BENCH_REDIS_URL, else 127.0.0.1). Creates its
own database (or reuses --database NAME if it already holds the events), loads leads and
events with COPY, serves the api in this process and times each page over loopback HTTP
(a signed-in admin, as the browser would). Prints min / median / p95 / max per page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from bench_support import free_port, secondary_indexes_dropped, with_database

from activitylog.access.accounts import hash_password
from activitylog.contract.taxonomy import CATEGORY_OF, EventType
from activitylog.runtime.db import connect
from activitylog.runtime.migrate import migrate
from activitylog.runtime.settings import Settings
from activitylog.storage import admin_users
from activitylog_api.service import run_api

PG = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/0"
EMAIL = "bench@example.com"
PASSWORD = "bench-password-123"
FIRST = ["Jane", "Bob", "Ana", "Luis", "Mei", "Omar", "Sara", "Tom", "Ivy", "Raj", "Eva", "Kim"]
LAST = ["Doe", "Stone", "Lopez", "Chen", "Khan", "Novak", "Smith", "Ito", "Berg", "Rossi"]
WORDS = [
    "hello",
    "quick",
    "reminder",
    "about",
    "your",
    "appointment",
    "tomorrow",
    "reply",
    "yes",
    "to",
    "confirm",
    "stop",
    "roof",
    "inspection",
    "estimate",
    "quote",
    "window",
    "solar",
    "panel",
    "install",
    "schedule",
    "visit",
    "thanks",
    "call",
    "back",
    "price",
    "discount",
    "offer",
    "spring",
    "winter",
    "campaign",
    "booking",
    "cancel",
    "reschedule",
    "monday",
    "friday",
]
TYPES = list(EventType)
COLUMNS = (
    "id",
    "event_type",
    "event_category",
    "lead_id",
    "lead_airtable_id",
    "description",
    "message_content",
    "metadata",
    "source",
    "execution_id",
    "timestamp",
    "created_at",
)


async def create_database(admin_url: str, name: str) -> bool:
    """Create `name` unless it exists; True when it was created (and so needs data)."""
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
        return not exists
    finally:
        await conn.close()


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def load(url: str, events: int, leads: int, days: int) -> None:
    """Leads and events by COPY; secondary indexes dropped during the load, then rebuilt."""
    rng = random.Random(42)
    now = datetime.now(UTC)
    conn = await connect(url)  # binary jsonb codec: COPY writes metadata as dicts
    try:
        started = time.perf_counter()
        lead_rows = []
        for n in range(leads):
            stub = n % 10 == 9  # one lead in ten is a stub (no details yet)
            first, last = rng.choice(FIRST), rng.choice(LAST)
            lead_rows.append(
                (
                    uuid.uuid4(),
                    f"recBench{n:08d}",
                    "" if stub else first,
                    "" if stub else last,
                    None if stub else f"{first.lower()}.{last.lower()}{n}@example.com",
                    None if stub else f"+1555{n:07d}",
                )
            )
        await conn.copy_records_to_table(
            "leads",
            records=lead_rows,
            columns=["id", "airtable_record_id", "first_name", "last_name", "email", "phone"],
        )
        async with secondary_indexes_dropped(conn, "lead_activity_log"):
            span = days * 86_400
            # Oldest first, as events arrive: the table's physical order follows created_at
            # (what the BRIN index of the health counts relies on), as it does in production.
            offsets = sorted((rng.random() * span for _ in range(events)), reverse=True)
            chunk = 100_000
            for start in range(0, events, chunk):
                rows = []
                for i in range(start, min(start + chunk, events)):
                    lead = lead_rows[rng.randrange(leads)]
                    event_type = rng.choice(TYPES)
                    ts = now - timedelta(seconds=offsets[i])
                    words = " ".join(rng.choice(WORDS) for _ in range(10))
                    rows.append(
                        (
                            uuid.uuid4(),
                            event_type.value,
                            CATEGORY_OF[event_type].value,
                            lead[0],
                            lead[1],
                            f"{event_type.value.replace('_', ' ').title()} #{i}",
                            words,
                            {"campaign_id": f"camp{i % 40}", "phone": f"+1555{i % leads:07d}"},
                            f"n8n:wf-{i % 12}",
                            f"exec-{i}",
                            ts,
                            ts + timedelta(seconds=1),
                        )
                    )
                await conn.copy_records_to_table("lead_activity_log", records=rows, columns=COLUMNS)
                print(f"  loaded {min(start + chunk, events):,} events", flush=True)
        await conn.execute(
            """
            INSERT INTO retry_queue (queue_id, lead_id, payload, status, last_error, retry_count)
            SELECT 'bench-' || g, 'recBench' || lpad(g::text, 8, '0'), '{"eventType": "X"}',
                   (ARRAY['pending', 'dead', 'resolved', 'discarded'])[1 + g % 4],
                   'bench error ' || g, g % 10
            FROM generate_series(1, 2000) AS g
            """
        )
        await conn.execute("VACUUM ANALYZE")
        print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        await conn.close()


async def sign_in(http: httpx.AsyncClient) -> None:
    page = await http.get("/admin/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    response = await http.post(
        "/admin/login",
        data={"email": EMAIL, "password": PASSWORD, "_csrf_token": token[1], "next": ""},
    )
    assert response.status_code == 303, response.text


async def measure(http: httpx.AsyncClient, path: str, runs: int) -> tuple[float, list[float]]:
    """The first request's time (cold caches) and `runs` more after one more warm-up."""
    started = time.perf_counter()
    (await http.get(path)).raise_for_status()
    first = (time.perf_counter() - started) * 1000
    (await http.get(path)).raise_for_status()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await http.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return first, timings


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
        ("activity, source filter", "/admin/activity-logs?source=n8n:wf-3"),
        ("activity, lead filter", f"/admin/activity-logs?lead={busy['lead_id']}"),
        ("activity, 3rd page (keyset)", "OLDER2"),
        (f"lead page ({busy['n']} events)", f"/admin/leads/{busy['lead_id']}"),
        ("retry queue", "/admin/retry-queue"),
        ("retry queue, dead", "/admin/retry-queue?status=dead"),
    ]


async def third_page(http: httpx.AsyncClient) -> str:
    path = "/admin/activity-logs"
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
    parser.add_argument("--database", help="reuse (or create and keep) this database")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    args = parser.parse_args()
    admin_url = os.environ.get("BENCH_DATABASE_URL", PG)
    redis_url = os.environ.get("BENCH_REDIS_URL", REDIS)
    name = args.database or f"activitylog_bench_ui_{uuid.uuid4().hex[:8]}"
    url = with_database(admin_url, name)
    created = await create_database(admin_url, name)
    try:
        await migrate(url)
        if created:
            print(f"loading {args.events:,} events for {args.leads:,} leads over {args.days} days")
            await load(url, args.events, args.leads, args.days)
        conn = await connect(url)
        try:
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
        stop = asyncio.Event()
        server = asyncio.create_task(run_api(settings, stop))
        base = f"http://127.0.0.1:{settings.api_port}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                for _ in range(200):
                    try:
                        if (await http.get("/health/live")).status_code == 200:
                            break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
                await sign_in(http)
                print(f"\n{total:,} events stored; {args.runs} timed requests per page\n")
                print(
                    f"{'page':40} {'first':>7} {'min':>7} {'median':>7} {'p95':>7} {'max':>7}  (ms)"
                )
                for label, path in await pages(url):
                    headers = {}
                    if path == "OLDER2":
                        path = await third_page(http)
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
        finally:
            stop.set()
            await server
    finally:
        if not args.keep and not args.database:
            await drop_database(admin_url, name)


if __name__ == "__main__":
    asyncio.run(main())
