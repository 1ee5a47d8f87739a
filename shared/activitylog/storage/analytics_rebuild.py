"""The analytics rebuilt from the log: the rules of `activitylog.domain.analytics.rules` spelled in
SQL (a test holds the two to agreement), run with writers held off."""

from __future__ import annotations

import asyncpg

from activitylog.domain.analytics.counting import CLIENT_KEPT, GRAINS, SOURCE_KEPT
from activitylog.domain.analytics.rules import (
    BOUNDS_HOURS,
    CAMPAIGN_KEYS,
    CARRIER_KEY,
    COUNTED,
    FUNNEL,
    MAX_POSITIONS,
    MAX_REPLIES,
    UNKNOWN_CARRIER,
)
from activitylog.storage import analytics_queue, log_followers
from activitylog.storage.analytics import COLUMNS, REBUILD_LOCK
from activitylog.storage.log_followers import Follower


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


# Every lead and campaign's facts, from the log (what `rules.apply` keeps, in one pass): the
# rows of transactions below $1 (the horizon; the analytics follower takes in the rest).
FILL_FACTS = f"""
INSERT INTO lead_campaign_facts ({", ".join(COLUMNS)})
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
    WHERE event_type IN ({_TYPES}) AND (tx IS NULL OR tx < $1::text::xid8)
) AS e
JOIN leads AS l ON l.id = e.lead_id
GROUP BY e.lead_id, e.campaign, l.client_id
"""

# What the facts add up to (what `counting.contributions` says, per cohort).
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


async def rebuild(conn: asyncpg.Connection) -> int:
    """Recompute every fact and count from the log; returns the facts rows.

    Writers wait meanwhile (the log is locked in SHARE mode), so the result is exact.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", REBUILD_LOCK)
        await log_followers.wait_turn(conn, Follower.ANALYTICS)
        await conn.execute("LOCK TABLE lead_activity_log IN SHARE MODE")
        await conn.execute("LOCK TABLE lead_campaign_facts, analytics_counts IN EXCLUSIVE MODE")
        await conn.execute("TRUNCATE lead_campaign_facts, analytics_counts")
        # With writers held off, every note is of an event in the log read below.
        await analytics_queue.clear(conn)
        horizon = await log_followers.reset_to_horizon(conn, Follower.ANALYTICS)
        await conn.execute(FILL_FACTS, str(horizon))
        await conn.execute(FILL_COUNTS)
        return int(await conn.fetchval("SELECT count(*) FROM lead_campaign_facts"))
