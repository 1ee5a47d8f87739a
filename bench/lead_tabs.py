"""A lead's category tabs (its counts per category, as its page and `GET /api/leads/{id}`
show them): how long they take for many leads of a database bench/loader.py built.

Usage: python bench/lead_tabs.py --database NAME [--leads 40] [--rounds 3]

Counts each lead's tabs as the reads do (storage.activity_log.counts.count_by_category,
cap 10,000, budget 30 ms) on one connection, and prints the median and p95 per lead over
the rounds. Run it against another tree through PYTHONPATH to compare. Needs PostgreSQL
(BENCH_DATABASE_URL, else 127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from activitylog.domain.reads.query import ActivityFilter
from activitylog.runtime.db import connect
from activitylog.storage.activity_log.counts import count_by_category
from activitylog.use_cases.reads.counting import CATEGORIES
from activitylog_testing.databases import database_url

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True)
    parser.add_argument("--leads", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    conn = await connect(database_url(PG, args.database))
    try:
        leads = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM leads WHERE last_activity_at IS NOT NULL ORDER BY id LIMIT $1",
                args.leads,
            )
        ]
        took: list[float] = []
        for _ in range(args.rounds):
            for lead in leads:
                started = time.perf_counter()
                await count_by_category(
                    conn, ActivityFilter(lead_id=lead), CATEGORIES, 10_000, budget_ms=30
                )
                took.append(time.perf_counter() - started)
    finally:
        await conn.close()
    took.sort()
    print(
        f"{len(leads)} leads x {args.rounds} rounds: median "
        f"{statistics.median(took) * 1e3:.1f} ms, p95 {took[int(len(took) * 0.95)] * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
