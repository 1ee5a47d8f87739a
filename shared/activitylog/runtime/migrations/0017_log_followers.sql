-- The counters and the analytics follow the log instead of being written beside each event
-- (docs/RUNBOOK.md §13, §17): a batch's transaction stores its events and nothing else, and
-- the retry service reads the rows stored since it last looked and adds them up.
--
-- A row's place in the log is (tx, position): the transaction that stored it (its top-level
-- id, 64 bits, never wraps) and a number taken on insert. Positions are taken before their
-- transactions commit, so a row may commit after a higher position was read; transaction
-- ids below the oldest one still running (pg_snapshot_xmin) belong to transactions that have
-- ended, whose rows are all visible or never will be. A follower reads only rows with
-- tx < xmin, in (tx, position) order, from its own cursor on: none is skipped, none read
-- twice (activitylog.domain.followers).
--
-- Both columns are filled by their defaults; rows stored before this version have neither
-- (NULL): they are in the counters and the analytics already. Set without a table rewrite
-- (a volatile default on ADD COLUMN would rewrite every row).
ALTER TABLE lead_activity_log ADD COLUMN tx xid8, ADD COLUMN position bigint;
CREATE SEQUENCE lead_activity_log_position_seq AS bigint OWNED BY lead_activity_log.position;
ALTER TABLE lead_activity_log
    ALTER COLUMN tx SET DEFAULT pg_current_xact_id(),
    ALTER COLUMN position SET DEFAULT nextval('lead_activity_log_position_seq');
CREATE INDEX activity_log_tail_idx ON lead_activity_log (tx, position) WHERE tx IS NOT NULL;

-- One cursor per follower: the last row it has taken in. A follower's step holds its row
-- FOR UPDATE and moves it in the transaction that applies what it read, so replicas take
-- turns and each row counts once; whoever changes rows a follower may have read (a client
-- move, a purge, a merge) holds it FOR SHARE, so the two never interleave.
CREATE TABLE log_followers (
    name        text PRIMARY KEY CHECK (name IN ('counters', 'analytics')),
    tx          xid8        NOT NULL DEFAULT '0',
    position    bigint      NOT NULL DEFAULT 0,
    moved_at    timestamptz NOT NULL DEFAULT now(),
    -- When the newest row it took in arrived (its created_at): the lag is measured from it.
    arrived_at  timestamptz
);
INSERT INTO log_followers (name) VALUES ('analytics'), ('counters');

-- A follower's cursor, for readers that add the rows it has not taken in yet (in the same
-- statement, so one snapshot). Functions rather than subqueries: the planner evaluates a
-- stable function to estimate `tx >= log_follower_tx(…)`, so it reads the few rows after the
-- cursor through activity_log_tail_idx instead of guessing a third of the table. PL/pgSQL,
-- so they are not inlined back into subqueries. No row (a truncated table): the start.
CREATE FUNCTION log_follower_tx(follower text) RETURNS xid8
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN coalesce((SELECT tx FROM log_followers WHERE name = follower), '0'::xid8);
END
$$;
CREATE FUNCTION log_follower_position(follower text) RETURNS bigint
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN coalesce((SELECT position FROM log_followers WHERE name = follower), 0);
END
$$;

-- Health reads a total per arrival minute and hour (category '*', no source), 84 rows for a
-- day however many sources and categories report; the watchers keep reading per source.
INSERT INTO event_counts (basis, grain, bucket, category, n)
SELECT 'arrival', grain, bucket, '*', sum(n)
FROM event_counts WHERE basis = 'arrival'
GROUP BY grain, bucket;
CREATE INDEX event_counts_totals_idx ON event_counts (grain, bucket) WHERE category = '*';
