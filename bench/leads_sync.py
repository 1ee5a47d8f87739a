"""Lead sync benchmark: `activitylog leads sync` reading a portal database of N leads.

Usage: python bench/leads_sync.py [--leads 100000] [--stubs 1000] [--rounds 3] [--batch 1000]

A scratch portal database gets the portal's `leads` table with N rows; a scratch database
of this service is migrated. Each round empties this service's leads, makes `--stubs` stub
leads (as events would, known by Airtable id only, so the sync adopts the portal's UUID for
them), then times a first sync (every lead new) and a second `--full` sync (every lead read
again and updated). Prints leads/s per round and the median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from activitylog.runtime.db import connect
from activitylog.storage.portal_leads import PortalTable
from activitylog.use_cases.leads import sync as lead_sync
from activitylog_testing.databases import database_url, drop_database, with_database

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

PORTAL_TABLE = """
CREATE TABLE leads (
    id uuid PRIMARY KEY, airtable_record_id text UNIQUE, client_id uuid, first_name text,
    last_name text, email text, phone text, status text,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""


def airtable_id(n: int) -> str:
    return f"recBench{n:09d}"


async def fill_portal(url: str, leads: int) -> None:
    clients = [uuid.uuid4() for _ in range(20)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(PORTAL_TABLE)
        await conn.copy_records_to_table(
            "leads",
            records=[
                (
                    uuid.uuid4(),
                    airtable_id(n),
                    clients[n % len(clients)],
                    f"First{n}",
                    f"Last{n}",
                    f"lead{n}@example.com",
                    f"+1555{n:07d}",
                    "new",
                    start + timedelta(seconds=n),
                )
                for n in range(leads)
            ],
            columns=[
                "id",
                "airtable_record_id",
                "client_id",
                "first_name",
                "last_name",
                "email",
                "phone",
                "status",
                "updated_at",
            ],
        )
    finally:
        await conn.close()


async def one_round(ours: str, portal: str, stubs: int, batch: int) -> tuple[float, float, str]:
    conn = await connect(ours)
    portal_conn = await asyncpg.connect(portal)
    table = PortalTable()
    source = lead_sync.source_name(portal, table)
    try:
        await conn.execute("TRUNCATE leads, lead_sync_state CASCADE")
        await conn.execute(
            "INSERT INTO leads (airtable_record_id) SELECT unnest($1::text[])",
            [airtable_id(n * 97) for n in range(stubs)],
        )
        await conn.execute("VACUUM ANALYZE leads")
        started = time.perf_counter()
        first = await lead_sync.sync_from_postgres(
            conn, portal_conn, table, source=source, batch_size=batch
        )
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        again = await lead_sync.sync_from_postgres(
            conn, portal_conn, table, source=source, batch_size=batch, full=True
        )
        again_s = time.perf_counter() - started
    finally:
        await portal_conn.close()
        await conn.close()
    return first.read / first_s, again.read / again_s, " | ".join(first.lines()[:1])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--stubs", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=lead_sync.DEFAULT_BATCH)
    args = parser.parse_args()

    portal_name = f"bench_portal_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG)
    await admin.execute(f'CREATE DATABASE "{portal_name}"')
    await admin.close()
    portal = database_url(PG, portal_name)
    try:
        await fill_portal(portal, args.leads)
        async with with_database(PG) as ours:
            firsts: list[float] = []
            agains: list[float] = []
            for n in range(args.rounds):
                first, again, summary = await one_round(ours, portal, args.stubs, args.batch)
                firsts.append(first)
                agains.append(again)
                print(
                    f"round {n + 1}: first sync {first:,.0f} leads/s ({summary}); "
                    f"full re-sync {again:,.0f} leads/s"
                )
            print(
                f"{args.leads:,} portal leads, {args.stubs:,} stubs, batch {args.batch}: "
                f"first sync median {statistics.median(firsts):,.0f} leads/s, "
                f"full re-sync median {statistics.median(agains):,.0f} leads/s"
            )
    finally:
        await drop_database(PG, portal_name)


if __name__ == "__main__":
    asyncio.run(main())
