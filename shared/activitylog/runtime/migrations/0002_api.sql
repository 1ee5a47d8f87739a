-- The API's own table (api_keys) and the indexes its lead search needs.

-- API keys: only a SHA-256 hash of each key is stored; a role and, for portal keys, the one
-- client whose leads the key may read.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('ingest', 'portal', 'admin')),
    client_id    uuid,
    key_hash     bytea NOT NULL UNIQUE,
    -- The first characters of the key, so an operator can tell keys apart in `keys list`.
    key_prefix   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz,
    CONSTRAINT api_keys_portal_has_client CHECK ((role = 'portal') = (client_id IS NOT NULL))
);

-- The admin browser's search also matches a lead's name, email and phone by substring:
-- trigram indexes serve those ILIKE/LIKE matches. pg_trgm ships with PostgreSQL's contrib;
-- where it is missing or may not be created (the embedded dev server, a restricted role) the
-- search still works, by scanning leads.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'pg_trgm not created (%); lead search will scan leads', SQLERRM;
            RETURN;
        END;
        CREATE INDEX leads_name_trgm_idx
            ON leads USING gin ((first_name || ' ' || last_name) gin_trgm_ops);
        CREATE INDEX leads_email_trgm_idx ON leads USING gin (email gin_trgm_ops);
        CREATE INDEX leads_phone_digits_trgm_idx
            ON leads USING gin ((regexp_replace(phone, '\D', '', 'g')) gin_trgm_ops);
    END IF;
END
$$;
