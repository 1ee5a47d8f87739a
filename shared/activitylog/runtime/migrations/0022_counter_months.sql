-- Event-time day counters older than the dashboard's window roll up into months (the retry
-- service's compaction, rollups.KEEP_DAYS), so that a whole-history total sums a row per
-- month. Existing days roll at the next compaction.
ALTER TABLE event_counts DROP CONSTRAINT event_counts_grain_check;
ALTER TABLE event_counts ADD CONSTRAINT event_counts_grain_check
    CHECK (grain IN ('minute', 'hour', 'day', 'month'));
