-- Analytics are folded in after the commit, not in the write path: a batch only notes here
-- what it stored (an event, or a whole lead whose client changed), and the retry service
-- folds the notes into lead_campaign_facts and analytics_counts, deleting each note in the
-- same transaction, so every event is folded in exactly once.
CREATE TABLE analytics_queue (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- A foreign key, so a lead's notes follow it when it takes the portal's id or is merged
    -- (storage.leads moves every reference it finds in the catalog) and go with a purge.
    lead_id  uuid NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    event_id uuid  -- NULL: every campaign of the lead (its client changed)
);

-- Events stored before this migration are in the facts already (0011 filled them).
