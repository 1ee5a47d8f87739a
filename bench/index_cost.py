"""What each index of the log costs a write: the same rows COPYed into the log with every
index, then without each one in turn, in alternating rounds (the machine's speed drifts).

Usage: python bench/index_cost.py [--events 100000] [--rounds 3]

The COPY is the insert the ingest does (storage.activity_log.writes), so an index's share of
the COPY time is its share of the write path's insert stage. The indexes are the browser's,
the timeline's, the search's and the followers' (docs/RUNBOOK.md §12).
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
from bench_support import WORDS

from activitylog.runtime.db import connect
from activitylog.storage.activity_log import writes as activity_writes
from activitylog_testing.databases import with_database

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def rows(n: int, leads: list[uuid.UUID]) -> list[tuple]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    types = ["MESSAGE_SENT", "MESSAGE_DELIVERED", "INBOUND_REPLY", "CAMPAIGN_ENROLLED"]
    out = []
    for i in range(n):
        out.append(
            (
                uuid.uuid4(),
                types[i % 4],
                "SMS" if i % 4 != 3 else "CAMPAIGN",
                leads[i % len(leads)],
                f"recBench{i % len(leads):08d}",
                None,
                f"Event {i}",
                " ".join(WORDS[(i + k) % len(WORDS)] for k in range(8)),
                {"campaignId": f"camp{i % 20}", "phone": f"+1555{i:07d}"},
                "n8n:bench",
                f"bench-{i}",
                None,
                base + timedelta(seconds=i),
            )
        )
    return out


async def copy_rate(conn: asyncpg.Connection, records: list[tuple]) -> float:
    await conn.execute("TRUNCATE lead_activity_log")
    started = time.perf_counter()
    for i in range(0, len(records), 500):  # the ingest's batch size
        await conn.copy_records_to_table(
            "lead_activity_log",
            records=records[i : i + 500],
            columns=list(activity_writes.COLUMNS),
        )
    return len(records) / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    async with with_database(PG, f"activitylog_bench_idx_{uuid.uuid4().hex[:8]}") as url:
        conn = await connect(url)
        try:
            leads = [uuid.uuid4() for _ in range(10_000)]
            await conn.copy_records_to_table(
                "leads",
                records=[(i, f"recBench{n:08d}") for n, i in enumerate(leads)],
                columns=["id", "airtable_record_id"],
            )
            records = rows(args.events, leads)
            indexes = await conn.fetch(
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE tablename = 'lead_activity_log' AND indexname NOT LIKE '%pkey' "
                "ORDER BY indexname"
            )
            with_all: list[float] = []
            without: dict[str, list[float]] = {i["indexname"]: [] for i in indexes}
            for n in range(args.rounds):
                for index in indexes:
                    with_all.append(await copy_rate(conn, records))
                    await conn.execute(f'DROP INDEX "{index["indexname"]}"')
                    without[index["indexname"]].append(await copy_rate(conn, records))
                    await conn.execute("TRUNCATE lead_activity_log")
                    await conn.execute(index["indexdef"].replace(" ON ONLY ", " ON ", 1))
                print(f"round {n + 1} done", flush=True)
            base = statistics.median(with_all)
            print(f"\nCOPY of {args.events:,} rows in batches of 500, medians of {args.rounds}")
            print(f"every index: {base:,.0f} rows/s")
            print(f"{'without':36} {'rows/s':>9} {'index share of the insert':>28}")
            for name, rates in sorted(without.items(), key=lambda kv: -statistics.median(kv[1])):
                rate = statistics.median(rates)
                share = 1 - base / rate  # the time the index adds to the insert
                print(f"{name:36} {rate:9,.0f} {share:27.0%}")
        finally:
            await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
