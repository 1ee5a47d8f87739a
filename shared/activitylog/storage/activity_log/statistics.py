"""The planner's statistics of the partitioned log: the whole log's (autovacuum analyses each
month but never their parent) and one month's."""

from __future__ import annotations

from datetime import date

import asyncpg

from activitylog.storage.activity_log.partitions import partition_name


async def analyze_log(conn: asyncpg.Connection) -> None:
    """Statistics of the whole log (a sample across its months): autovacuum analyses each
    partition but never their partitioned parent."""
    await conn.execute("ANALYZE lead_activity_log")


async def row_estimates(conn: asyncpg.Connection) -> tuple[float, float] | None:
    """The whole log's rows as its last ANALYZE counted them (-1: never) and the sum of its
    months' own estimates (kept by autovacuum); None while the log is not partitioned."""
    row = await conn.fetchrow(
        """
        SELECT p.reltuples AS analysed, coalesce(sum(greatest(c.reltuples, 0)), 0) AS rows
        FROM pg_class p
        LEFT JOIN pg_inherits i ON i.inhparent = p.oid
        LEFT JOIN pg_class c ON c.oid = i.inhrelid
        WHERE p.oid = 'lead_activity_log'::regclass AND p.relkind = 'p'
        GROUP BY p.reltuples
        """
    )
    return None if row is None else (float(row["analysed"]), float(row["rows"]))


async def analyze_month(conn: asyncpg.Connection, month: date) -> None:
    """Fresh statistics for a month's partition: autovacuum reaches a restored month only
    later, and until then the planner reads it blind (a lead's page took 3 times as long)."""
    await conn.execute(f'ANALYZE "{partition_name(month)}"')
