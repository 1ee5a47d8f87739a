-- One lead, one identity: a lead's id is the portal's UUID once the lead sync has named it,
-- its history is never deleted with it, and the sync keeps its high-water mark here.

-- Soft delete: a deleted lead is marked, hidden from lookups, and keeps its events; only
-- `activitylog leads purge` removes it, and says how many events go with it.
ALTER TABLE leads ADD COLUMN deleted_at timestamptz;

-- Before, deleting a lead erased its whole history (ON DELETE CASCADE). Now a delete is
-- refused while events remain; should a lead's id ever be updated, its events follow (ON
-- UPDATE CASCADE). NOT VALID then VALIDATE: the check of existing rows does not block
-- writers.
ALTER TABLE lead_activity_log DROP CONSTRAINT lead_activity_log_lead_id_fkey;
ALTER TABLE lead_activity_log ADD CONSTRAINT lead_activity_log_lead_id_fkey
    FOREIGN KEY (lead_id) REFERENCES leads (id) ON UPDATE CASCADE ON DELETE RESTRICT NOT VALID;
ALTER TABLE lead_activity_log VALIDATE CONSTRAINT lead_activity_log_lead_id_fkey;

-- Incremental lead sync: per source, the last portal `updated_at` (and id, the tie-break)
-- fully synced; the next round reads only rows after it.
CREATE TABLE lead_sync_state (
    source      text PRIMARY KEY,
    synced_to   timestamptz NOT NULL,
    synced_id   text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
