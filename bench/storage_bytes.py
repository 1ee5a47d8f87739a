"""Where the log's bytes go: heap, TOAST and each index (summed over its monthly partitions),
and the id registry, per stored event, on a database loaded like bench/api.py's.

Usage: python bench/storage_bytes.py [--events 1000000] [--leads 100000] [--clients 50]
       [--database NAME --keep]
Needs PostgreSQL (BENCH_DATABASE_URL, else 127.0.0.1); creates and drops its own database
unless --database names one to reuse. A database holding --events already (one
bench/loader.py built: `--database NAME --events 0`) is only measured. The figures are
docs/RUNBOOK.md §18's.
"""

from __future__ import annotations

import argparse
import asyncio
import os

import asyncpg
from api import message
from bench_support import load_log

from activitylog_testing.databases import with_database

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

# Each relation of the log summed over its partitions (pg_partition_tree lists a plain
# table or index as its own only leaf, so the query measures the log before partitions too).
BREAKDOWN = """
WITH leaves AS (
    SELECT relid FROM pg_partition_tree('lead_activity_log') WHERE isleaf
    UNION SELECT 'lead_activity_log'::regclass
    WHERE (SELECT relkind FROM pg_class WHERE oid = 'lead_activity_log'::regclass) = 'r'
)
SELECT 'heap' AS part, sum(pg_relation_size(relid)) AS bytes FROM leaves
UNION ALL
SELECT 'toast', coalesce(sum(pg_total_relation_size(c.reltoastrelid)), 0)
FROM leaves JOIN pg_class AS c ON c.oid = leaves.relid WHERE c.reltoastrelid <> 0
UNION ALL
SELECT 'index ' || i.indexrelid::regclass::text,
       coalesce((SELECT sum(pg_relation_size(t.relid))
                 FROM pg_partition_tree(i.indexrelid) AS t WHERE t.isleaf),
                pg_relation_size(i.indexrelid))
FROM pg_index AS i WHERE i.indrelid = 'lead_activity_log'::regclass
UNION ALL
SELECT 'registry lead_activity_ids (heap and key)',
       pg_total_relation_size(to_regclass('lead_activity_ids'))
WHERE to_regclass('lead_activity_ids') IS NOT NULL
"""


async def report(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM ANALYZE lead_activity_log")
        n = int(await conn.fetchval("SELECT count(*) FROM lead_activity_log"))
        rows = await conn.fetch(BREAKDOWN)
        print(f"{n:,} events; bytes per event (bytes / events):")
        total = 0
        for r in sorted(rows, key=lambda r: -int(r["bytes"] or 0)):
            size = int(r["bytes"] or 0)
            total += size
            print(f"  {size / n:8.1f} B  {size / 1e6:9.1f} MB  {r['part']}")
        print(f"  {total / n:8.1f} B  {total / 1e6:9.1f} MB  total")
        partitions = await conn.fetchval(
            "SELECT count(*) FROM pg_partition_tree('lead_activity_log') WHERE isleaf"
        )
        print(f"  ({partitions or 1} table(s))")
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--database")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    async with with_database(PG, args.database, keep=args.keep) as url:
        conn = await asyncpg.connect(url)
        have = await conn.fetchval("SELECT count(*) FROM lead_activity_log")
        await conn.close()
        if have < args.events:
            await load_log(
                url,
                events=args.events - have,
                leads=args.leads,
                clients=args.clients,
                message=message,
                seed=7,
            )
        await report(url)


if __name__ == "__main__":
    asyncio.run(main())
