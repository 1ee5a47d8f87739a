-- The activity browser's Lead column sorts by the name it shows. That name is worked out
-- here, once, so the list, the lead page and the sort cannot disagree: the lead's name; a
-- stub (no name yet) shows its email or Airtable id instead.
CREATE FUNCTION lead_display_name(first_name text, last_name text, email text, airtable_id text)
    RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $f$
    SELECT coalesce(nullif(btrim(coalesce(first_name, '') || ' ' || coalesce(last_name, '')), ''),
                    nullif(email, ''), nullif(airtable_id, ''), 'Unknown lead')
$f$;

-- Leads in name order as a person reads it: ICU's root collation puts "Émile" beside
-- "Emma" (the database's C collation would put it after "Zoe"), and the lower case puts
-- "ana" beside "Alice". A PostgreSQL built without ICU (the embedded one) gets the C order
-- of the lower-cased names instead: still case-blind, accents last.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu') THEN
        CREATE COLLATION lead_name_order (provider = icu, locale = 'und');
    ELSE
        CREATE COLLATION lead_name_order FROM "C";
    END IF;
END
$$;

-- The browser walks this index and reads each lead's events through the (lead, time)
-- index, so a page sorted by lead costs the leads it passes, not the log's size.
CREATE INDEX leads_display_name_idx ON leads
    ((lower(lead_display_name(first_name, last_name, email, airtable_record_id)) COLLATE lead_name_order), id);

-- The same for one client's leads (the portal's, and the browser's client filter): an
-- event belongs to its lead's client, so only that client's leads are walked.
CREATE INDEX leads_client_display_name_idx ON leads
    (client_id, (lower(lead_display_name(first_name, last_name, email, airtable_record_id)) COLLATE lead_name_order), id);
