"""Bytes per stored event: the log's heap, TOAST and each index, divided by its rows.

Usage: python bench/size.py --database NAME [--table lead_activity_log]

The total is pg_total_relation_size (heap, free-space and visibility maps, TOAST and every
index) over the row count, as issue 26's 1,032 B was measured. A partitioned table is
summed over its partitions (pg_partition_tree), each index over its partitions' indexes.
"""

from __future__ import annotations

import argparse
import asyncio
import os

import asyncpg

PG = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

# A plain table has no partition tree: it is its own one part.
_PARTS = """(SELECT relid FROM pg_partition_tree($1::regclass) WHERE isleaf
             UNION ALL SELECT $1::regclass
             WHERE NOT EXISTS (SELECT 1 FROM pg_partition_tree($1::regclass)))"""

_TABLE = f"""
SELECT coalesce(sum(pg_relation_size(p.relid, 'main')), 0) AS heap,
       coalesce(sum(pg_relation_size(p.relid, 'fsm') + pg_relation_size(p.relid, 'vm')), 0)
           AS maps,
       coalesce(sum(CASE WHEN c.reltoastrelid <> 0
                         THEN pg_total_relation_size(c.reltoastrelid) ELSE 0 END), 0) AS toast,
       coalesce(sum(pg_indexes_size(p.relid)), 0) AS indexes,
       coalesce(sum(pg_total_relation_size(p.relid)), 0) AS total
FROM {_PARTS} AS p(relid) JOIN pg_class AS c ON c.oid = p.relid
"""

_INDEXES = """
SELECT i.indexrelid::regclass::text AS name,
       coalesce((SELECT sum(pg_relation_size(t.relid))
                 FROM pg_partition_tree(i.indexrelid) AS t WHERE t.isleaf),
                pg_relation_size(i.indexrelid)) AS bytes,
       pg_get_indexdef(i.indexrelid) AS def
FROM pg_index AS i WHERE i.indrelid = $1::regclass
ORDER BY bytes DESC
"""


def mb(n: int) -> str:
    return f"{n / 1_000_000:,.0f} MB"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--table", default="lead_activity_log")
    args = parser.parse_args()
    url = PG.rsplit("/", 1)[0] + f"/{args.database}"
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetchval(f"SELECT count(*) FROM {args.table}")
        size = await conn.fetchrow(_TABLE, args.table)
        indexes = await conn.fetch(_INDEXES, args.table)
    finally:
        await conn.close()
    print(f"{args.database}.{args.table}: {rows:,} rows\n")
    print("| part | size | bytes per event |\n|---|---:|---:|")
    for label, key in (
        ("heap (main fork)", "heap"),
        ("free-space and visibility maps", "maps"),
        ("TOAST (table and its index)", "toast"),
        (f"indexes ({len(indexes)})", "indexes"),
        ("**total** (pg_total_relation_size)", "total"),
    ):
        print(f"| {label} | {mb(size[key])} | {size[key] / max(rows, 1):,.0f} |")
    print("\n| index | size | bytes per event | definition |\n|---|---:|---:|---|")
    for index in indexes:
        definition = index["def"].split(" USING ", 1)[-1]
        print(
            f"| {index['name']} | {mb(index['bytes'])} | "
            f"{index['bytes'] / max(rows, 1):,.1f} | `{definition}` |"
        )


if __name__ == "__main__":
    asyncio.run(main())
