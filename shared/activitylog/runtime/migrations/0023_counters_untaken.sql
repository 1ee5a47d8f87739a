-- The rows the counters' follower has not taken in yet, which every counter read adds on
-- the fly (storage/event_counts.py, `_live`): the comparison of
-- storage/log_followers.after_cursor, for the counters. In PL/pgSQL, and with no parameter,
-- so that each session plans it once: written into each read's statement, the scan of the
-- (tx, position) index was planned over every month of the partitioned log at every read,
-- 1-2 ms of the health figures' 4 ms at 10 M events. STABLE: it reads in the snapshot of
-- the statement that calls it, so a read stays exact whatever the follower's lag. The walk
-- of the index is forced: the plan is made once, maybe while the follower is far behind,
-- and a scan of every month kept from then would make every later read take seconds.
CREATE FUNCTION counters_untaken() RETURNS TABLE (
    created_at timestamptz,
    "timestamp" timestamptz,
    event_category text,
    event_type text,
    source text,
    client_id uuid
) LANGUAGE plpgsql STABLE SET enable_seqscan = off SET enable_bitmapscan = off AS $$
BEGIN
    RETURN QUERY
    SELECT a.created_at, a."timestamp", a.event_category, a.event_type, a.source, a.client_id
    FROM lead_activity_log AS a
    WHERE a.tx >= log_follower_tx('counters')
      AND (a.tx, a.position) > (log_follower_tx('counters'), log_follower_position('counters'));
END
$$;
