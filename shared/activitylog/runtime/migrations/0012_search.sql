-- What the activity browser's search needs beyond 0002's trigram indexes on lead name,
-- email and phone digits: a forgiving name match, metadata values as words, and each
-- admin's time zone.

-- A name "like" the searched text: a word of it similar to the text (typos), through the
-- trigram index of 0002. A SQL function so the query stays the same where pg_trgm could not
-- be created (then it matches nothing and the substring match still finds leads); simple
-- enough to be inlined, so the planner sees the indexed expression.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE FUNCTION lead_name_similar(name text, query text) RETURNS boolean
            LANGUAGE sql STABLE PARALLEL SAFE AS $f$ SELECT name %> query $f$;
    ELSE
        CREATE FUNCTION lead_name_similar(name text, query text) RETURNS boolean
            LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $f$ SELECT false $f$;
    END IF;
END
$$;

-- Metadata string and number values as 'simple' words (no stemming: campaign names and ids
-- are matched as written). An expression index rather than a stored column: no table
-- rewrite, and the insert cost is one GIN entry list (measured with bench/ingest.py).
CREATE INDEX activity_metadata_search_idx ON lead_activity_log
    USING gin (jsonb_to_tsvector('simple', coalesce(metadata, '{}'::jsonb), '["string", "numeric"]'));

-- One client's events of some type, newest first (the portal's and the browser's common
-- filter): read in order from here instead of filtering a whole client's or type's events
-- (at 10 million events that filtering read ~1,000 rows from the heap per page).
CREATE INDEX activity_client_type_time_idx ON lead_activity_log
    (client_id, event_type, "timestamp" DESC, id DESC);

-- The browser's total for a client and type comes from the counters: this finds that
-- client's rows of that type instead of reading every counter row. Counter updates only
-- change `n`, so they stay HOT updates.
CREATE INDEX event_counts_client_type_idx ON event_counts (basis, client_id, event_type);

-- The admin's time zone: date presets (Today, Yesterday, This month) and day groups use it.
ALTER TABLE admin_users ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
