-- Analytics: one row of facts per lead and campaign (first time of each funnel step, the
-- first messages and replies, message counts), and what those facts add up to per cohort
-- (client, campaign, week of the first message, source). Both are kept by the write path in
-- the batch's own transaction (activitylog.analytics.rules says what counts); this fills
-- them from the events stored before this version, as `activitylog analytics rebuild` does.
CREATE TABLE lead_campaign_facts (
    lead_id      uuid        NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    campaign     text        NOT NULL,
    client_id    uuid,
    first_at     timestamptz NOT NULL,
    source       text        NOT NULL,
    carrier      text,
    carrier_at   timestamptz,
    enrolled_at  timestamptz,
    delivered_at timestamptz,
    booked_at    timestamptz,
    completed_at timestamptz,
    removed_at   timestamptz,
    opted_out_at timestamptz,
    sent_at      timestamptz[] NOT NULL DEFAULT '{}',
    reply_at     timestamptz[] NOT NULL DEFAULT '{}',
    sent_n       integer     NOT NULL DEFAULT 0,
    delivered_n  integer     NOT NULL DEFAULT 0,
    failed_n     integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (lead_id, campaign)
);

-- Each count is kept at four grains (`grain` bit 1: client kept, bit 2: source kept; a
-- dimension not kept is NULL or ''), so a read adds up only the cohorts it filters on.
-- `shard` spreads concurrent writers over rows, as in event_counts; readers sum the shards.
CREATE TABLE analytics_counts (
    grain     smallint NOT NULL,
    client_id uuid,
    campaign  text     NOT NULL,
    week      date     NOT NULL,
    source    text     NOT NULL,
    metric    text     NOT NULL,
    dim       text     NOT NULL,
    bucket    integer  NOT NULL,
    shard     smallint NOT NULL DEFAULT 0,
    n         bigint   NOT NULL,
    CONSTRAINT analytics_counts_key UNIQUE NULLS NOT DISTINCT
        (grain, client_id, source, metric, campaign, week, dim, bucket, shard)
);

-- The facts of the events stored so far.
INSERT INTO lead_campaign_facts (lead_id, campaign, client_id, first_at, source, carrier, carrier_at, enrolled_at, delivered_at, booked_at, completed_at, removed_at, opted_out_at, sent_at, reply_at, sent_n, delivered_n, failed_n)
SELECT e.lead_id, e.campaign, l.client_id, min(e.ts),
       (array_agg(e.source ORDER BY e.ts, e.source))[1],
       (array_agg(e.carrier ORDER BY e.ts, e.carrier) FILTER (WHERE e.carrier IS NOT NULL))[1],
       min(e.ts) FILTER (WHERE e.carrier IS NOT NULL),
       min(e.ts) FILTER (WHERE e.event_type = 'CAMPAIGN_ENROLLED'), min(e.ts) FILTER (WHERE e.event_type = 'MESSAGE_DELIVERED'),
       min(e.ts) FILTER (WHERE e.event_type = 'BOOKING_CONFIRMED'), min(e.ts) FILTER (WHERE e.event_type = 'CAMPAIGN_COMPLETED'),
       min(e.ts) FILTER (WHERE e.event_type = 'CAMPAIGN_REMOVED'), min(e.ts) FILTER (WHERE e.event_type = 'OPT_OUT'),
       coalesce((array_agg(e.ts ORDER BY e.ts)
                 FILTER (WHERE e.event_type = 'MESSAGE_SENT'))[1:5], '{}'),
       coalesce((array_agg(e.ts ORDER BY e.ts)
                 FILTER (WHERE e.event_type = 'INBOUND_REPLY'))[1:8], '{}'),
       count(*) FILTER (WHERE e.event_type = 'MESSAGE_SENT'),
       count(*) FILTER (WHERE e.event_type = 'MESSAGE_DELIVERED'),
       count(*) FILTER (WHERE e.event_type = 'MESSAGE_FAILED')
FROM (
    SELECT lead_id, event_type, "timestamp" AS ts, source,
           CASE WHEN jsonb_typeof(metadata->'campaign_id') = 'string' AND metadata->>'campaign_id' <> '' THEN metadata->>'campaign_id' WHEN jsonb_typeof(metadata->'campaignId') = 'string' AND metadata->>'campaignId' <> '' THEN metadata->>'campaignId' ELSE '' END AS campaign, CASE WHEN jsonb_typeof(metadata->'carrier') = 'string' AND metadata->>'carrier' <> '' THEN metadata->>'carrier' END AS carrier
    FROM lead_activity_log
    WHERE event_type IN ('BOOKING_CONFIRMED', 'CAMPAIGN_COMPLETED', 'CAMPAIGN_ENROLLED', 'CAMPAIGN_REMOVED', 'INBOUND_REPLY', 'MESSAGE_DELIVERED', 'MESSAGE_FAILED', 'MESSAGE_SENT', 'OPT_OUT')
) AS e
JOIN leads AS l ON l.id = e.lead_id
GROUP BY e.lead_id, e.campaign, l.client_id;

-- What they add up to.
WITH lead_wide AS (
    SELECT lead_id, reply_at, booked_at, opted_out_at
    FROM lead_campaign_facts WHERE campaign = ''
), f AS (
    SELECT p.client_id, p.campaign, p.source, coalesce(p.carrier, 'unknown') AS carrier,
           p.enrolled_at, p.delivered_at, p.completed_at, p.removed_at, p.sent_at,
           p.sent_n, p.delivered_n, p.failed_n,
           date_trunc('week', coalesce(p.sent_at[1], p.enrolled_at, p.first_at)
                      AT TIME ZONE 'UTC')::date AS week,
           CASE WHEN w.lead_id IS NULL THEN p.reply_at
                ELSE (SELECT coalesce(array_agg(t ORDER BY t), '{}')
                      FROM (SELECT t FROM unnest(p.reply_at || w.reply_at) AS t
                            ORDER BY t LIMIT 8) AS r)
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
    SELECT client_id, campaign, week, source, 'reply', 'any', (SELECT count(*) FROM unnest('{1,2,4,8,12,24,48,72,168,336,720}'::int[]) AS b WHERE extract(epoch FROM replied - previous) > b * 3600), 1
    FROM h WHERE replied IS NOT NULL
    UNION ALL
    SELECT h.client_id, h.campaign, h.week, h.source, 'sent', s.position::text, 0, 1
    FROM h, unnest(h.sent_at) WITH ORDINALITY AS s (t, position)
    UNION ALL
    SELECT h.client_id, h.campaign, h.week, h.source, 'reply', s.position::text,
           (SELECT count(*) FROM unnest('{1,2,4,8,12,24,48,72,168,336,720}'::int[]) AS b WHERE extract(epoch FROM a.answer - s.t) > b * 3600), 1
    FROM h, unnest(h.sent_at) WITH ORDINALITY AS s (t, position),
         LATERAL (SELECT min(r) AS answer FROM unnest(h.reply_at) AS r WHERE r >= s.t) AS a
    WHERE a.answer IS NOT NULL
    UNION ALL
    SELECT client_id, campaign, week, source, 'opted_out', '', 0, 1
    FROM h WHERE cardinality(sent_at) > 0 AND opted_out_at IS NOT NULL
    UNION ALL
    SELECT client_id, campaign, week, source, 'booking', '', (SELECT count(*) FROM unnest('{1,2,4,8,12,24,48,72,168,336,720}'::int[]) AS b WHERE extract(epoch FROM booked_at - replied) > b * 3600), 1
    FROM h WHERE replied IS NOT NULL AND booked_at >= replied
    UNION ALL
    SELECT h.client_id, h.campaign, h.week, h.source, 'funnel', (ARRAY['enrolled', 'sent', 'delivered', 'replied', 'booked', 'completed'])[step + 1], step, 1
    FROM h, generate_series(0, h.reached - 1) AS step
    UNION ALL
    SELECT client_id, campaign, week, source, 'left',
           CASE WHEN opted_out_at IS NOT NULL THEN 'opted_out'
                WHEN removed_at IS NOT NULL THEN 'removed'
                ELSE 'silent' END,
           reached - 1, 1
    FROM h WHERE reached BETWEEN 1 AND 5
), cohort AS (
    SELECT client_id, campaign, week, source, metric, dim, bucket::int AS bucket, sum(n) AS n
    FROM k
    GROUP BY client_id, campaign, week, source, metric, dim, bucket
)
INSERT INTO analytics_counts (grain, client_id, campaign, week, source, metric, dim, bucket, n)
SELECT g.grain,
       CASE WHEN g.grain & 1 <> 0 THEN c.client_id END AS client_id,
       c.campaign, c.week,
       CASE WHEN g.grain & 2 <> 0 THEN c.source ELSE '' END AS source,
       c.metric, c.dim, c.bucket, sum(c.n)
FROM cohort AS c CROSS JOIN unnest('{0,1,2,3}'::smallint[]) AS g (grain)
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
