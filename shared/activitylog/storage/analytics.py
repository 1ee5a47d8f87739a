"""SQL for the analytics tables: `lead_campaign_facts` (one row per lead and campaign) and
`analytics_counts` (what the facts add up to, by cohort): the keeper's writes, compaction,
reads. The rebuild from the log is `analytics_rebuild`.

What the facts hold and what they count for is decided in `activitylog.domain.analytics.rules`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import asyncpg

from activitylog.domain.analytics.counting import CountKey, grain_for
from activitylog.domain.analytics.rules import Facts

SHARDS = 4
# Writers of one lead's facts take this advisory lock (with the lead's hash) in key order.
# The keeper folds at most a few hundred leads at a time, so it holds few of them (each
# takes a slot of the server's shared lock table), and the write path takes none.
_LEAD_LOCK_CLASS = 0x0A11
REBUILD_LOCK = 0x0A11_7105

COLUMNS = (
    "lead_id",
    "campaign",
    "client_id",
    "first_at",
    "source",
    "carrier",
    "carrier_at",
    "enrolled_at",
    "delivered_at",
    "booked_at",
    "completed_at",
    "removed_at",
    "opted_out_at",
    "sent_at",
    "reply_at",
    "sent_n",
    "delivered_n",
    "failed_n",
)


# -- the write path ---------------------------------------------------------------------------


async def lock_leads(conn: asyncpg.Connection, lead_ids: Iterable[uuid.UUID]) -> None:
    """Hold each lead's facts for this transaction; in one order, so writers never deadlock."""
    ids = sorted(set(lead_ids))
    if ids:
        await conn.execute(
            """
            SELECT pg_advisory_xact_lock($1, h)
            FROM (SELECT DISTINCT hashtext(id::text) AS h FROM unnest($2::uuid[]) AS id) AS v
            ORDER BY h
            """,
            _LEAD_LOCK_CLASS,
            ids,
        )


def _facts(row: asyncpg.Record) -> Facts:
    values = dict(row)
    values["sent_at"] = tuple(values["sent_at"])
    values["reply_at"] = tuple(values["reply_at"])
    return Facts(**values)


async def fetch_facts(
    conn: asyncpg.Connection,
    whole: list[uuid.UUID],
    pairs: list[tuple[uuid.UUID, str]],
) -> dict[uuid.UUID, list[Facts]]:
    """Stored facts: every campaign of the leads in `whole`, and the (lead, campaign) `pairs`
    (those not stored are absent)."""
    columns = ", ".join(COLUMNS)
    rows = await conn.fetch(
        f"""
        SELECT {columns} FROM lead_campaign_facts WHERE lead_id = ANY($1::uuid[])
        UNION ALL
        SELECT {", ".join(f"f.{c}" for c in COLUMNS)}
        FROM unnest($2::uuid[], $3::text[]) AS p (lead_id, campaign)
        JOIN lead_campaign_facts AS f USING (lead_id, campaign)
        WHERE NOT (p.lead_id = ANY($1::uuid[]))
        """,
        whole,
        [lead for lead, _ in pairs],
        [campaign for _, campaign in pairs],
    )
    out: dict[uuid.UUID, list[Facts]] = {}
    for row in rows:
        out.setdefault(row["lead_id"], []).append(_facts(row))
    return out


async def save_facts(conn: asyncpg.Connection, facts: list[Facts]) -> None:
    """Write facts as they now are (the caller holds their leads' locks).

    One statement over an array of the table's own row type: the follower writes hundreds of
    facts per step, and a statement per fact was a third of its database time.
    """
    if not facts:
        return
    facts = sorted(facts, key=lambda f: (f.lead_id, f.campaign))
    await conn.execute(
        f"""
        INSERT INTO lead_campaign_facts AS f ({", ".join(COLUMNS)})
        SELECT {", ".join(f"r.{c}" for c in COLUMNS)}
        FROM unnest($1::lead_campaign_facts[]) AS r
        ON CONFLICT (lead_id, campaign) DO UPDATE SET
            {", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[2:])}
        """,
        [
            tuple(
                list(getattr(f, c))
                if c.endswith("_at") and c in ("sent_at", "reply_at")
                else getattr(f, c)
                for c in COLUMNS
            )
            for f in facts
        ],
    )


async def delete_facts(conn: asyncpg.Connection, lead_ids: list[uuid.UUID]) -> None:
    """Delete these leads' facts (the caller has taken their counts out)."""
    await conn.execute(
        "DELETE FROM lead_campaign_facts WHERE lead_id = ANY($1::uuid[])", sorted(set(lead_ids))
    )


async def add_counts(conn: asyncpg.Connection, counts: dict[CountKey, int]) -> None:
    """Add to the counts, in the caller's transaction (the batch's own)."""
    keys = sorted((k for k, n in counts.items() if n), key=CountKey.order)  # no deadlocks
    if not keys:
        return
    await conn.execute(
        f"""
        INSERT INTO analytics_counts AS c
            (grain, client_id, campaign, week, source, metric, dim, bucket, shard, n)
        SELECT gr, cli, cam, wk, src, met, dm, bk, (pg_backend_pid() % {SHARDS})::smallint, n
        FROM unnest($9::smallint[], $1::uuid[], $2::text[], $3::date[], $4::text[], $5::text[],
                    $6::text[], $7::int[], $8::bigint[]) AS v(gr, cli, cam, wk, src, met, dm, bk, n)
        ON CONFLICT ON CONSTRAINT analytics_counts_key DO UPDATE SET n = c.n + EXCLUDED.n
        """,
        [k.client_id for k in keys],
        [k.campaign for k in keys],
        [k.week for k in keys],
        [k.source for k in keys],
        [k.metric for k in keys],
        [k.dim for k in keys],
        [k.bucket for k in keys],
        [counts[k] for k in keys],
        [k.grain for k in keys],
    )


async def compact(conn: asyncpg.Connection) -> int:
    """Fold the writers' shard rows into shard 0 and drop counts at zero (a lead that moved
    leaves them), so reads add up fewer rows; returns the rows folded. Idempotent."""
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", REBUILD_LOCK):
            return 0
        folded = await conn.fetchval(
            """
            WITH gone AS (
                DELETE FROM analytics_counts WHERE shard <> 0
                RETURNING grain, client_id, campaign, week, source, metric, dim, bucket, n
            ), kept AS (
                INSERT INTO analytics_counts AS c
                    (grain, client_id, campaign, week, source, metric, dim, bucket, shard, n)
                SELECT grain, client_id, campaign, week, source, metric, dim, bucket, 0, sum(n)
                FROM gone
                GROUP BY grain, client_id, campaign, week, source, metric, dim, bucket
                ON CONFLICT ON CONSTRAINT analytics_counts_key DO UPDATE SET n = c.n + EXCLUDED.n
            )
            SELECT count(*) FROM gone
            """
        )
        await conn.execute("DELETE FROM analytics_counts WHERE n = 0")
        return int(folded)


async def try_lock_for_keeping(conn: asyncpg.Connection) -> bool:
    """Take the rebuild lock shared for this transaction (keepers fold side by side), or
    False while a rebuild holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock_shared($1)", REBUILD_LOCK))


# -- reads ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CountFilter:
    """Which cohorts to add up: weeks in [since, until), one client, campaign, source."""

    since: date | None = None
    until: date | None = None
    client_id: uuid.UUID | None = None
    campaign: str | None = None
    source: str | None = None


_GROUPS = {"campaign": "campaign", "week": "week", "dim": "dim", "bucket": "bucket"}


# The cohorts a CountFilter keeps ($2-$6, $8) and, with $7, one dim.
_KEPT = """grain = $8
              AND ($2::date IS NULL OR week >= $2) AND ($3::date IS NULL OR week < $3)
              AND ($4::uuid IS NULL OR client_id = $4)
              AND ($5::text IS NULL OR campaign = $5)
              AND ($6::text IS NULL OR source = $6)"""


async def sums(
    conn: asyncpg.Connection,
    f: CountFilter,
    metrics: tuple[str, ...],
    by: tuple[str, ...],
    *,
    dim: str | None = None,
    busiest: int | None = None,
) -> list[asyncpg.Record]:
    """Counts of `metrics` (of one `dim` if given) in the filtered cohorts, summed per metric
    and the `by` columns (any of campaign, week, dim, bucket). Rows: metric, `by`, n.
    `busiest`: of that many campaigns only, those with the most messages sent (ties by
    name)."""
    columns = ", ".join(["metric", *(_GROUPS[b] for b in by)])
    only = ""
    if busiest is not None:
        only = f"""AND campaign IN (
                SELECT campaign FROM analytics_counts
                WHERE {_KEPT} AND metric = 'sent' AND dim = 'any'
                GROUP BY campaign ORDER BY sum(n) DESC, campaign LIMIT $9)"""
    return list(
        await conn.fetch(
            f"""
            SELECT {columns}, sum(n)::bigint AS n
            FROM analytics_counts
            WHERE {_KEPT} AND metric = ANY($1::text[])
              AND ($7::text IS NULL OR dim = $7) {only}
            GROUP BY {columns}
            HAVING sum(n) <> 0
            ORDER BY {columns}
            """,
            list(metrics),
            f.since,
            f.until,
            f.client_id,
            f.campaign,
            f.source,
            dim,
            grain_for(f.client_id is not None, f.source is not None),
            *([] if busiest is None else [busiest]),
        )
    )


async def campaigns(conn: asyncpg.Connection, client_id: uuid.UUID | None) -> list[str]:
    """The campaigns counted, for a filter's choices."""
    rows = await conn.fetch(
        "SELECT DISTINCT campaign FROM analytics_counts "
        "WHERE grain = $2 AND ($1::uuid IS NULL OR client_id = $1) ORDER BY campaign",
        client_id,
        grain_for(client_id is not None, False),
    )
    return [r["campaign"] for r in rows]
