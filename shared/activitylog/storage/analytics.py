"""SQL for the analytics tables: `lead_campaign_facts` (one row per lead and campaign) and
`analytics_counts` (what the facts add up to, by cohort), kept by the write path; rebuild; reads.

What the facts hold and what they count for is decided in `activitylog.analytics.rules`;
the rebuild below spells the same rules in SQL, and a test holds the two to agreement.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import asyncpg

from activitylog.analytics.rules import (
    BOUNDS_HOURS,
    CAMPAIGN_KEYS,
    CARRIER_KEY,
    CLIENT_KEPT,
    COUNTED,
    FUNNEL,
    GRAINS,
    MAX_POSITIONS,
    MAX_REPLIES,
    SOURCE_KEPT,
    UNKNOWN_CARRIER,
    CountKey,
    Facts,
    grain_for,
)
from activitylog.storage import analytics_queue

SHARDS = 4
# Writers of one lead's facts take this advisory lock (with the lead's hash) in key order.
# The keeper folds at most a few hundred leads at a time, so it holds few of them (each
# takes a slot of the server's shared lock table), and the write path takes none.
_LEAD_LOCK_CLASS = 0x0A11
_REBUILD_LOCK = 0x0A11_7105

_COLUMNS = (
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


def _text_of(key: str) -> str:
    return (
        f"WHEN jsonb_typeof(metadata->'{key}') = 'string' AND metadata->>'{key}' <> '' "
        f"THEN metadata->>'{key}'"
    )


_CAMPAIGN = f"CASE {' '.join(_text_of(k) for k in CAMPAIGN_KEYS)} ELSE '' END"
_CARRIER = f"CASE {_text_of(CARRIER_KEY)} END"
_TYPES = ", ".join(f"'{t}'" for t in sorted(COUNTED))
_BOUNDS = "'{" + ",".join(str(b) for b in BOUNDS_HOURS) + "}'::int[]"
_GRAINS = "'{" + ",".join(str(g) for g in GRAINS) + "}'::smallint[]"
_FUNNEL = "ARRAY[" + ", ".join(f"'{s}'" for s in FUNNEL) + "]"


def _bucket(delay: str) -> str:
    seconds = f"extract(epoch FROM {delay})"
    return f"(SELECT count(*) FROM unnest({_BOUNDS}) AS b WHERE {seconds} > b * 3600)"


def _first(event_type: str) -> str:
    return f"min(e.ts) FILTER (WHERE e.event_type = '{event_type}')"


# Every lead and campaign's facts, from the log (what `rules.apply` keeps, in one pass).
FILL_FACTS = f"""
INSERT INTO lead_campaign_facts ({", ".join(_COLUMNS)})
SELECT e.lead_id, e.campaign, l.client_id, min(e.ts),
       (array_agg(e.source ORDER BY e.ts, e.source))[1],
       (array_agg(e.carrier ORDER BY e.ts, e.carrier) FILTER (WHERE e.carrier IS NOT NULL))[1],
       min(e.ts) FILTER (WHERE e.carrier IS NOT NULL),
       {_first("CAMPAIGN_ENROLLED")}, {_first("MESSAGE_DELIVERED")},
       {_first("BOOKING_CONFIRMED")}, {_first("CAMPAIGN_COMPLETED")},
       {_first("CAMPAIGN_REMOVED")}, {_first("OPT_OUT")},
       coalesce((array_agg(e.ts ORDER BY e.ts)
                 FILTER (WHERE e.event_type = 'MESSAGE_SENT'))[1:{MAX_POSITIONS}], '{{}}'),
       coalesce((array_agg(e.ts ORDER BY e.ts)
                 FILTER (WHERE e.event_type = 'INBOUND_REPLY'))[1:{MAX_REPLIES}], '{{}}'),
       count(*) FILTER (WHERE e.event_type = 'MESSAGE_SENT'),
       count(*) FILTER (WHERE e.event_type = 'MESSAGE_DELIVERED'),
       count(*) FILTER (WHERE e.event_type = 'MESSAGE_FAILED')
FROM (
    SELECT lead_id, event_type, "timestamp" AS ts, source,
           {_CAMPAIGN} AS campaign, {_CARRIER} AS carrier
    FROM lead_activity_log
    WHERE event_type IN ({_TYPES})
) AS e
JOIN leads AS l ON l.id = e.lead_id
GROUP BY e.lead_id, e.campaign, l.client_id
"""

# What the facts add up to (what `rules.contributions` says, per cohort).
FILL_COUNTS = f"""
WITH lead_wide AS (
    SELECT lead_id, reply_at, booked_at, opted_out_at
    FROM lead_campaign_facts WHERE campaign = ''
), f AS (
    SELECT p.client_id, p.campaign, p.source, coalesce(p.carrier, '{UNKNOWN_CARRIER}') AS carrier,
           p.enrolled_at, p.delivered_at, p.completed_at, p.removed_at, p.sent_at,
           p.sent_n, p.delivered_n, p.failed_n,
           date_trunc('week', coalesce(p.sent_at[1], p.enrolled_at, p.first_at)
                      AT TIME ZONE 'UTC')::date AS week,
           CASE WHEN w.lead_id IS NULL THEN p.reply_at
                ELSE (SELECT coalesce(array_agg(t ORDER BY t), '{{}}')
                      FROM (SELECT t FROM unnest(p.reply_at || w.reply_at) AS t
                            ORDER BY t LIMIT {MAX_REPLIES}) AS r)
           END AS reply_at,
           least(p.booked_at, w.booked_at) AS booked_at,
           least(p.opted_out_at, w.opted_out_at) AS opted_out_at
    FROM lead_campaign_facts AS p
    LEFT JOIN lead_wide AS w ON w.lead_id = p.lead_id AND p.campaign <> ''
), g AS (
    SELECT f.*, (SELECT min(r) FROM unnest(f.reply_at) AS r WHERE r >= f.sent_at[1]) AS replied
    FROM f
), h AS (
    SELECT g.*,
           (SELECT max(s) FROM unnest(g.sent_at) AS s WHERE s <= g.replied) AS previous,
           CASE WHEN g.enrolled_at IS NULL THEN 0
                WHEN cardinality(g.sent_at) = 0 THEN 1
                WHEN g.delivered_at IS NULL THEN 2
                WHEN g.replied IS NULL THEN 3
                WHEN g.booked_at IS NULL THEN 4
                WHEN g.completed_at IS NULL THEN 5
                ELSE 6 END AS reached
    FROM g
), k (client_id, campaign, week, source, metric, dim, bucket, n) AS (
    SELECT client_id, campaign, week, source, 'msg_sent', carrier, 0, sent_n
    FROM h WHERE sent_n > 0
    UNION ALL
    SELECT client_id, campaign, week, source, 'msg_delivered', carrier, 0, delivered_n
    FROM h WHERE delivered_n > 0
    UNION ALL
    SELECT client_id, campaign, week, source, 'msg_failed', carrier, 0, failed_n
    FROM h WHERE failed_n > 0
    UNION ALL
    SELECT client_id, campaign, week, source, 'sent', 'any', 0, 1
    FROM h WHERE cardinality(sent_at) > 0
    UNION ALL
    SELECT client_id, campaign, week, source, 'reply', 'any', {_bucket("replied - previous")}, 1
    FROM h WHERE replied IS NOT NULL
    UNION ALL
    SELECT h.client_id, h.campaign, h.week, h.source, 'sent', s.position::text, 0, 1
    FROM h, unnest(h.sent_at) WITH ORDINALITY AS s (t, position)
    UNION ALL
    SELECT h.client_id, h.campaign, h.week, h.source, 'reply', s.position::text,
           {_bucket("a.answer - s.t")}, 1
    FROM h, unnest(h.sent_at) WITH ORDINALITY AS s (t, position),
         LATERAL (SELECT min(r) AS answer FROM unnest(h.reply_at) AS r WHERE r >= s.t) AS a
    WHERE a.answer IS NOT NULL
    UNION ALL
    SELECT client_id, campaign, week, source, 'opted_out', '', 0, 1
    FROM h WHERE cardinality(sent_at) > 0 AND opted_out_at IS NOT NULL
    UNION ALL
    SELECT client_id, campaign, week, source, 'booking', '', {_bucket("booked_at - replied")}, 1
    FROM h WHERE replied IS NOT NULL AND booked_at >= replied
    UNION ALL
    SELECT h.client_id, h.campaign, h.week, h.source, 'funnel', ({_FUNNEL})[step + 1], step, 1
    FROM h, generate_series(0, h.reached - 1) AS step
    UNION ALL
    SELECT client_id, campaign, week, source, 'left',
           CASE WHEN opted_out_at IS NOT NULL THEN 'opted_out'
                WHEN removed_at IS NOT NULL THEN 'removed'
                ELSE 'silent' END,
           reached - 1, 1
    FROM h WHERE reached BETWEEN 1 AND {len(FUNNEL) - 1}
), cohort AS (
    SELECT client_id, campaign, week, source, metric, dim, bucket::int AS bucket, sum(n) AS n
    FROM k
    GROUP BY client_id, campaign, week, source, metric, dim, bucket
)
INSERT INTO analytics_counts (grain, client_id, campaign, week, source, metric, dim, bucket, n)
SELECT g.grain,
       CASE WHEN g.grain & {CLIENT_KEPT} <> 0 THEN c.client_id END AS client_id,
       c.campaign, c.week,
       CASE WHEN g.grain & {SOURCE_KEPT} <> 0 THEN c.source ELSE '' END AS source,
       c.metric, c.dim, c.bucket, sum(c.n)
FROM cohort AS c CROSS JOIN unnest({_GRAINS}) AS g (grain)
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
"""


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
    columns = ", ".join(_COLUMNS)
    rows = await conn.fetch(
        f"""
        SELECT {columns} FROM lead_campaign_facts WHERE lead_id = ANY($1::uuid[])
        UNION ALL
        SELECT {", ".join(f"f.{c}" for c in _COLUMNS)}
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
    """Write facts as they now are (the caller holds their leads' locks)."""
    if not facts:
        return
    facts = sorted(facts, key=lambda f: (f.lead_id, f.campaign))
    placeholders = ", ".join(f"${i}" for i in range(1, len(_COLUMNS) + 1))
    await conn.executemany(
        f"""
        INSERT INTO lead_campaign_facts AS f ({", ".join(_COLUMNS)}) VALUES ({placeholders})
        ON CONFLICT (lead_id, campaign) DO UPDATE SET
            {", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS[2:])}
        """,
        [
            tuple(
                list(getattr(f, c))
                if c.endswith("_at") and c in ("sent_at", "reply_at")
                else getattr(f, c)
                for c in _COLUMNS
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
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _REBUILD_LOCK):
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
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock_shared($1)", _REBUILD_LOCK))


async def rebuild(conn: asyncpg.Connection) -> int:
    """Recompute every fact and count from the log; returns the facts rows.

    Writers wait meanwhile (the log is locked in SHARE mode), so the result is exact.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _REBUILD_LOCK)
        await conn.execute("LOCK TABLE lead_activity_log IN SHARE MODE")
        await conn.execute("LOCK TABLE lead_campaign_facts, analytics_counts IN EXCLUSIVE MODE")
        await conn.execute("TRUNCATE lead_campaign_facts, analytics_counts")
        # With writers held off, every note is of an event in the log read below.
        await analytics_queue.clear(conn)
        await conn.execute(FILL_FACTS)
        await conn.execute(FILL_COUNTS)
        return int(await conn.fetchval("SELECT count(*) FROM lead_campaign_facts"))


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


async def sums(
    conn: asyncpg.Connection,
    f: CountFilter,
    metrics: tuple[str, ...],
    by: tuple[str, ...],
    *,
    dim: str | None = None,
) -> list[asyncpg.Record]:
    """Counts of `metrics` (of one `dim` if given) in the filtered cohorts, summed per metric
    and the `by` columns (any of campaign, week, dim, bucket). Rows: metric, `by`, n."""
    columns = ", ".join(["metric", *(_GROUPS[b] for b in by)])
    return list(
        await conn.fetch(
            f"""
            SELECT {columns}, sum(n)::bigint AS n
            FROM analytics_counts
            WHERE grain = $8 AND metric = ANY($1::text[])
              AND ($2::date IS NULL OR week >= $2) AND ($3::date IS NULL OR week < $3)
              AND ($4::uuid IS NULL OR client_id = $4)
              AND ($5::text IS NULL OR campaign = $5)
              AND ($6::text IS NULL OR source = $6)
              AND ($7::text IS NULL OR dim = $7)
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
