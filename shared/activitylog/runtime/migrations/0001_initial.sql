-- Leads, the immutable activity log and the dead-letter store.

CREATE TABLE leads (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    airtable_record_id text UNIQUE,
    client_id          uuid,
    first_name         text NOT NULL DEFAULT '',
    last_name          text NOT NULL DEFAULT '',
    email              text,
    phone              text,
    status             text,
    last_activity_at   timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leads_client_idx ON leads (client_id);
CREATE INDEX leads_email_idx ON leads (lower(email));
CREATE INDEX leads_phone_idx ON leads (phone);

CREATE TABLE lead_activity_log (
    id               uuid PRIMARY KEY,
    event_type       text NOT NULL,
    event_category   text NOT NULL,
    lead_id          uuid NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    lead_airtable_id text,
    client_id        uuid,
    description      text NOT NULL,
    message_content  text,
    metadata         jsonb,
    source           text NOT NULL,
    execution_id     text,
    created_by       uuid,
    "timestamp"      timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    search_vector    tsvector GENERATED ALWAYS AS (
        to_tsvector('english', description || ' ' || coalesce(message_content, ''))
    ) STORED
);
-- A lead's timeline, newest first, keyset on ("timestamp", id).
CREATE INDEX activity_lead_time_idx ON lead_activity_log (lead_id, "timestamp" DESC, id DESC);
-- Browsing everything by time, and each filter of the admin browser.
CREATE INDEX activity_time_idx ON lead_activity_log ("timestamp" DESC, id DESC);
CREATE INDEX activity_type_time_idx ON lead_activity_log (event_type, "timestamp" DESC);
CREATE INDEX activity_category_time_idx ON lead_activity_log (event_category, "timestamp" DESC);
CREATE INDEX activity_client_time_idx ON lead_activity_log (client_id, "timestamp" DESC);
CREATE INDEX activity_source_time_idx ON lead_activity_log (source, "timestamp" DESC);
CREATE INDEX activity_execution_idx ON lead_activity_log (execution_id) WHERE execution_id IS NOT NULL;
-- Health counts events by arrival time; BRIN suits an append-only insert-time column.
CREATE INDEX activity_created_brin ON lead_activity_log USING brin (created_at);
CREATE INDEX activity_search_idx ON lead_activity_log USING gin (search_vector);

CREATE TABLE retry_queue (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue_id       text NOT NULL UNIQUE,
    operation_type text NOT NULL DEFAULT 'activity_log',
    lead_id        text,
    payload        text NOT NULL,
    retry_count    integer NOT NULL DEFAULT 0,
    next_retry_at  timestamptz,
    last_error     text,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'resolved', 'dead', 'discarded')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX retry_queue_due_idx ON retry_queue (next_retry_at) WHERE status = 'pending';
CREATE INDEX retry_queue_status_idx ON retry_queue (status, created_at DESC);
