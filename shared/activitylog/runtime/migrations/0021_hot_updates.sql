-- Room on each page for the updates the write path and the analytics make in place. Every
-- stored event moves its lead's last_activity_at, and every analytics step rewrites the
-- facts it changed; an update that finds no room on its row's page is not HOT: it writes a
-- new index entry in every index of the table (the leads have nine, three of them trigram
-- GIN indexes). Measured with 60,000 events over 10,000 leads: 12 % of the leads' updates
-- were HOT at the default fillfactor (100), 92 % at 60, and the table and its indexes were
-- half the size (docs/RUNBOOK.md §12.1). Pages written from now on keep the room; a
-- `VACUUM FULL leads` in a quiet moment applies it to the pages already there.
ALTER TABLE leads SET (fillfactor = 60);
ALTER TABLE lead_campaign_facts SET (fillfactor = 70);
