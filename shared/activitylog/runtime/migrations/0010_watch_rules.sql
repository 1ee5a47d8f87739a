-- Expected sources: which sources must store events and how often (activitylog.watch), and
-- what the retry service has announced about them, so that with several replicas each
-- silence, rate drop and recovery is posted once (the replica whose conditional update
-- changes the row posts).
CREATE TABLE watch_rules (
    id            bigserial   PRIMARY KEY,
    pattern       text        NOT NULL UNIQUE CHECK (pattern <> '' AND length(pattern) <= 200),
    max_silence_s integer     NOT NULL CHECK (max_silence_s BETWEEN 60 AND 2592000),
    window_start  time,
    window_end    time,
    time_zone     text        NOT NULL DEFAULT 'UTC',
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((window_start IS NULL) = (window_end IS NULL))
);

CREATE TABLE watch_alerts (
    rule       text        NOT NULL,  -- the rule's pattern (the catch-all has no row above)
    source     text        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('silence', 'rate')),
    firing     boolean     NOT NULL,
    since      timestamptz NOT NULL,  -- when the current state was announced
    last_seen  timestamptz,           -- the source's newest arrival when it was announced
    detail     text        NOT NULL DEFAULT '',
    PRIMARY KEY (rule, source, kind)
);
