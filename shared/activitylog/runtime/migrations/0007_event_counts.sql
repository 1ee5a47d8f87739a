-- Counters of stored events, kept by the write path in the same transaction as the insert
-- (activitylog.counters.rollups says which rollups exist and what an event adds). A
-- dimension a rollup does not keep is NULL; `shard` spreads concurrent writers over rows,
-- so no batch waits on another's hot counter.
CREATE TABLE event_counts (
    basis       text        NOT NULL CHECK (basis IN ('arrival', 'event')),
    grain       text        NOT NULL CHECK (grain IN ('minute', 'hour', 'day')),
    bucket      timestamptz NOT NULL,
    category    text        NOT NULL,
    event_type  text,
    source      text,
    client_id   uuid,
    shard       smallint    NOT NULL DEFAULT 0,
    n           bigint      NOT NULL,
    CONSTRAINT event_counts_key UNIQUE NULLS NOT DISTINCT
        (basis, grain, bucket, category, event_type, source, client_id, shard)
);
CREATE INDEX event_counts_time_idx ON event_counts (basis, bucket);

-- The events stored before this version, counted as the write path would have counted them
-- (the retry service's compaction rolls the old hours into days afterwards).
INSERT INTO event_counts (basis, grain, bucket, category, source, n)
SELECT 'arrival', 'minute', date_trunc('minute', created_at, 'UTC'), event_category, source,
       count(*)
FROM lead_activity_log
WHERE created_at >= date_trunc('hour', now() - interval '2 days', 'UTC')
GROUP BY 3, 4, 5;

INSERT INTO event_counts (basis, grain, bucket, category, source, n)
SELECT 'arrival', 'hour', date_trunc('hour', created_at, 'UTC'), event_category, source, count(*)
FROM lead_activity_log
GROUP BY 3, 4, 5;

INSERT INTO event_counts (basis, grain, bucket, category, event_type, client_id, n)
SELECT 'event', 'hour', date_trunc('hour', "timestamp", 'UTC'), event_category, event_type,
       client_id, count(*)
FROM lead_activity_log
GROUP BY 3, 4, 5, 6;
